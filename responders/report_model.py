"""What a weekly report knows, shared by the CSV writer (`responders.report`) and the page (`report_html`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

SENTIMENTS = ("negative", "neutral", "positive", "unscored")
NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "reddit": "Reddit"}


@dataclass
class ThreadRow:
    thread_id: int
    customer: str
    handle: str
    network: str
    brand: str
    first_message: str
    sentiment: str
    urgency: int
    tier: str
    first_response_seconds: int | None
    status: str
    assignee: str
    mentions: int
    mentions_in_week: int
    first_activity: datetime
    last_activity: datetime

    @property
    def first_response(self) -> str:
        return "" if self.first_response_seconds is None else human_duration(self.first_response_seconds)


@dataclass
class DayVolume:
    day: date
    # Customer mentions that day, by sentiment (SENTIMENTS); the brand's own posts are not volume.
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SENTIMENTS, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class WeekData:
    week: str
    start: datetime
    end: datetime
    threads: list[ThreadRow]
    days: list[DayVolume]
    mentions: int
    complaints: int
    median_first_response_seconds: int | None
    generated_at: datetime


def human_duration(seconds: float) -> str:
    """A duration as a person reads it: 45s, 12m 05s, 1h 05m, 2d 03h."""
    total = int(round(seconds))
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def network_name(network: str) -> str:
    return NETWORK_NAMES.get(network, network)


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def sentiment_bucket(label: str | None) -> str:
    """The classifier's label folded onto the chart's four series."""
    value = (label or "").strip().lower()
    if value in ("negative", "neg"):
        return "negative"
    if value in ("positive", "pos"):
        return "positive"
    if value in ("neutral", "neu"):
        return "neutral"
    return "unscored"
