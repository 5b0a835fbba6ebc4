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
    def name(self) -> str:
        """The period as people read it: "2026-W47", "2–3 Dec 2026", "2 Dec 2026, 09:37 – 3 Dec, 00:00". `label`
        is for file names and keys."""
        return self.label if self.is_week else span_name(self.start, self.end)

    @property
    def title(self) -> str:
        return f"Weekly report {self.label}" if self.is_week else f"Report {self.name}"

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
    short = span_name(start, end, year=False)
    if _midnight(start) and _midnight(end):
        last = (end - timedelta(days=1)).date()
        if last == start.date():
            return Period(start, end, f"{last.isoformat()}", short)
        return Period(start, end, f"{start.date().isoformat()}_{last.isoformat()}", short)
    label = f"{start:%Y-%m-%dT%H%M}_{end:%Y-%m-%dT%H%M}"
    return Period(start, end, label, short)


def _day(moment: datetime | date, *, month: bool = True, year: bool = False) -> str:
    text = str(moment.day)
    if month:
        text += f" {moment:%b}"
    return f"{text} {moment.year}" if year else text


def span_name(start: datetime, end: datetime, *, year: bool = True) -> str:
    """[start, end) as people write it: whole days "16–22 Nov 2026", "30 Nov – 4 Dec 2026", "3 Dec 2026"; with
    times "3 Dec 2026, 09:30–17:00", "2 Dec 2026, 09:37 – 3 Dec, 00:00". Without `year` (legends, "vs ..."), the
    year only when the span crosses one."""
    if _midnight(start) and _midnight(end) and end > start:
        last = (end - timedelta(days=1)).date()
        first = start.date()
        crosses = first.year != last.year
        if first == last:
            return _day(first, year=year)
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}–{_day(last, year=year)}"
        return f"{_day(first, year=crosses)} – {_day(last, year=year or crosses)}"
    crosses = start.year != end.year
    if start.date() == end.date():
        return (
            f"{_day(start, year=year)}, {start:%H:%M}–{end:%H:%M}"
            if year
            else f"{_day(start)} {start:%H:%M}–{end:%H:%M}"
        )
    if year or crosses:
        return f"{_day(start, year=True)}, {start:%H:%M} – {_day(end, year=crosses)}, {end:%H:%M}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M}"


def _midnight(moment: datetime) -> bool:
    return moment.time() == time()


def last_days(days: int, *, now: datetime) -> Period:
    """`--days N`: the N calendar days (UTC) ending with today, whole days, so the period before is N whole days."""
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    try:
        return range_period(today - timedelta(days=days - 1), today + timedelta(days=1))
    except OverflowError:
        raise ValueError(f"--days {days} reaches before the year 1: expected a smaller number") from None


def empty_note(
    period: Period, span: tuple[datetime, datetime] | None, *, now: datetime, default: bool = False
) -> str:
    """What to say when `period` holds no mention: where the store's mentions are, and the options that reach
    them ("no mentions in 2026-W48; the store holds 2026-W49 (use --week 2026-W49 or --days 1)")."""
    chosen = f"{period.name} (the last complete week, the default period)" if default else period.name
    if span is None:
        return f"no mentions in {chosen} and none in the store yet: `earful serve` (or `earful demo`) collects them."
    first, last = span
    weeks = sorted({week_label(first), week_label(last)})
    held = weeks[0] if len(weeks) == 1 else f"{weeks[0]} to {weeks[-1]}"
    held += f" ({span_name(*_whole_days(first, last))})"
    options = [f"--week {week_label(last)}"]
    today = now.astimezone(UTC).date()
    reach = (today - first.astimezone(UTC).date()).days + 1
    if reach <= 92:
        options.append(f"--days {reach}")
    else:
        options.append(f"--since {first:%Y-%m-%d} --until {last:%Y-%m-%d}")
    return f"no mentions in {chosen}; the store holds {held}: use {' or '.join(options)}."


def _whole_days(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    start = datetime.combine(first.astimezone(UTC).date(), time(), tzinfo=UTC)
    end = datetime.combine(last.astimezone(UTC).date(), time(), tzinfo=UTC) + timedelta(days=1)
    return start, end
