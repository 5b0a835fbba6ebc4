"""The span a report covers: an ISO week (`--week 2026-W47`) or any range (`--since ... --until ...`), in UTC.

Every figure is compared with the period of the same length just before, so a period knows its predecessor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_FORMS = "a date like 2026-11-16 or a date and time like 2026-11-16T09:30 (UTC unless it has an offset)"
_WEEK_FORM = "an ISO week like 2026-W47 (year, -W, week number)"


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC. `label` names it in titles and file paths; `short` in "vs W46"."""

    start: datetime
    end: datetime
    label: str
    short: str

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def is_week(self) -> bool:
        return self.label == week_label(self.start) and self.length == timedelta(days=7)

    @property
    def title(self) -> str:
        return f"Weekly report {self.label}" if self.is_week else f"Report {self.short}"

    def previous(self) -> Period:
        if self.is_week:
            return iso_week_period(week_label(self.start - timedelta(days=7)))
        return range_period(self.start - self.length, self.start)

    def days(self) -> list[date]:
        """Every UTC calendar day the period touches, in order."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def describe(self) -> str:
        """The span in words: "Mon 16 Nov 2026 to Sun 22 Nov 2026, UTC"."""
        if _midnight(self.start) and _midnight(self.end):
            last = self.end - timedelta(days=1)
            if last.date() == self.start.date():
                return f"{self.start:%a %d %b %Y}, UTC"
            return f"{self.start:%a %d %b %Y} to {last:%a %d %b %Y}, UTC"
        return f"{self.start:%a %d %b %Y %H:%M} to {self.end:%a %d %b %Y %H:%M}, UTC"


def week_label(moment: datetime) -> str:
    year, week, _day = moment.isocalendar()
    return f"{year:04d}-W{week:02d}"


def iso_week_period(text: str) -> Period:
    """'2026-W47' to Monday 00:00 UTC .. next Monday 00:00 UTC; ValueError naming the form otherwise."""
    match = _WEEK.match(text or "")
    if match is None:
        raise ValueError(f"expected {_WEEK_FORM}, got {text!r}")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = datetime.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a week of {year}: expected an ISO week like 2026-W47") from None
    start = monday.replace(tzinfo=UTC)
    label = week_label(start)
    try:
        end = start + timedelta(days=7)
    except OverflowError:
        raise ValueError(f"{text!r} ends after the year 9999: expected {_WEEK_FORM}") from None
    return Period(start=start, end=end, label=label, short=label.split("-")[1])


def checked(period: Period) -> Period:
    """`period` if a report can cover it: the period before it, which every figure is compared with, must be a
    date too (the first week of the year 1 has none before it). ValueError naming the accepted forms otherwise."""
    try:
        period.previous()
    except (OverflowError, ValueError):
        raise ValueError(
            f"{period.label} is compared with the period as long before it, which would start before the year 1: "
            "expected a later ISO week like 2026-W47 or a later date like 2026-11-16"
        ) from None
    return period


def parse_iso_week(text: str) -> tuple[datetime, datetime]:
    period = iso_week_period(text)
    return period.start, period.end


def previous_week(now: datetime) -> Period:
    """The last complete ISO week before `now`."""
    return iso_week_period(week_label(now.astimezone(UTC) - timedelta(days=7)))


def parse_moment(text: str, *, name: str, end: bool = False) -> datetime:
    """An ISO date or date-time as aware UTC. A bare date is its midnight; as an `end`, the midnight after it,
    so `--until 2026-11-22` takes in the whole of the 22nd."""
    value = (text or "").strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: expected {_FORMS}, got {text!r}") from None
    try:
        if _DATE_ONLY.match(value):
            day = datetime.combine(parsed.date(), time(), tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:
        # 9999-12-31 as an end is the midnight after it; 0001-01-01T00:00+01:00 is before the year 1 in UTC.
        raise ValueError(
            f"{name}: {text!r} is outside the years 1 to 9999 in UTC: expected {_FORMS}"
        ) from None


def since_until_period(since: str, until: str | None, *, now: datetime) -> Period:
    """`--since` (required) and `--until` (default: now) as a Period; ValueError naming the form otherwise."""
    start = parse_moment(since, name="--since")
    end = parse_moment(until, name="--until", end=True) if until else now.astimezone(UTC)
    if end <= start:
        raise ValueError(
            f"--until ({end:%Y-%m-%d %H:%M} UTC) must come after --since ({start:%Y-%m-%d %H:%M} UTC)"
        )
    return range_period(start, end)


def range_period(start: datetime, end: datetime) -> Period:
    if _midnight(start) and _midnight(end):
        last = (end - timedelta(days=1)).date()
        if last == start.date():
            return Period(start, end, f"{last.isoformat()}", f"{last:%d %b}")
        short = (
            f"{start:%d %b}–{last:%d %b}" if start.year == last.year else f"{start:%d %b %Y}–{last:%d %b %Y}"
        )
        return Period(start, end, f"{start.date().isoformat()}_{last.isoformat()}", short)
    label = f"{start:%Y-%m-%dT%H%M}_{end:%Y-%m-%dT%H%M}"
    return Period(start, end, label, f"{start:%d %b %H:%M}–{end:%d %b %H:%M}")


def _midnight(moment: datetime) -> bool:
    return moment.time() == time()
