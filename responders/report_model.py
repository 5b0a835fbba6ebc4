"""What a report knows, shared by the SQL (`report_data`), the CSVs, the charts and the page (`report_html`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from responders.report_period import Period

# A mention the classifier rates at least this likely a complaint counts as one.
COMPLAINT_THRESHOLD = 0.5
SENTIMENTS = ("negative", "neutral", "positive", "unscored")
TIERS = ("critical", "high", "normal", "low")
NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "reddit": "Reddit"}

Kind = Literal["count", "share", "duration"]
# Which way a figure should move: complaints going up is bad news, mentions going up is just news.
Good = Literal["up", "down", "either"]


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
    # ISO 8601 UTC text, as written to threads.csv (sorts as time does).
    first_activity: str
    last_activity: str

    @property
    def first_response(self) -> str:
        return "" if self.first_response_seconds is None else human_duration(self.first_response_seconds)


@dataclass
class DayVolume:
    day: date
    # Customer mentions that day, by sentiment (SENTIMENTS) and by network; the brand's own posts are not volume.
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SENTIMENTS, 0))
    networks: dict[str, int] = field(default_factory=dict)
    complaints: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class TierResponse:
    """First responses to the threads that started in the period, for one urgency tier (or "all")."""

    tier: str
    answered: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    # Against the tier's SLA budget: answered in time, answered late or still unanswered past it, and unanswered
    # but still within it (not yet judged).
    met: int = 0
    missed: int = 0
    waiting: int = 0

    @property
    def sla_met_percent(self) -> float | None:
        judged = self.met + self.missed
        return 100.0 * self.met / judged if judged else None


@dataclass
class PeriodFigures:
    """The headline numbers of one period; a report holds two (this period and the one before)."""

    mentions: int = 0
    complaints: int = 0
    negative: int = 0
    threads: int = 0
    brand_posts: int = 0
    urgency: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    response: dict[str, TierResponse] = field(default_factory=dict)

    @property
    def negative_percent(self) -> float | None:
        return 100.0 * self.negative / self.mentions if self.mentions else None

    def tier_response(self, tier: str) -> TierResponse:
        return self.response.get(tier) or TierResponse(tier)


@dataclass
class Ranked:
    """Something counted in both periods: an entity, a topic, a saved reply. `detail` qualifies the name."""

    name: str
    current: float
    previous: float
    detail: str = ""


@dataclass
class Complainer:
    customer_id: int
    name: str
    handles: str
    complaints: int
    previous: int


@dataclass
class ResponderRow:
    name: str
    threads: int
    replies: int
    median_seconds: float | None
    previous_threads: int
    previous_median_seconds: float | None


@dataclass
class ReportData:
    period: Period
    previous: Period
    current: PeriodFigures
    prior: PeriodFigures
    days: list[DayVolume]
    networks: list[str]
    entities: list[Ranked]
    # Shares (percent of complaints mentioning the topic), estimated from `topics_read` complaints.
    topics: list[Ranked]
    topics_read: int
    complainers: list[Complainer]
    responders: list[ResponderRow]
    templates: list[Ranked]
    sla_minutes: dict[str, int]
    generated_at: datetime
    # Filled while the CSVs are written (they stream; the page shows only the most urgent threads).
    urgent: list[ThreadRow] = field(default_factory=list)
    thread_rows: int = 0
    mention_rows: int = 0


@dataclass(frozen=True)
class Change:
    text: str
    # "better", "worse" or "same": how the page colours it.
    tone: str


def change(current: float | None, previous: float | None, *, kind: Kind, good: Good, vs: str) -> Change:
    """A figure against the previous period: "+12% vs W46", "+3.1 pts vs W46", "new", "no change vs W46"."""
    if current is None:
        return Change("", "same")
    if previous is None or (previous == 0 and kind != "share"):
        return Change("new" if current else f"no change vs {vs}", "same")
    if kind == "share":
        delta = current - previous
        text = f"{delta:+.1f} pts vs {vs}"
        moved = abs(delta) >= 0.05
    else:
        ratio = (current - previous) / previous * 100
        delta = ratio
        text = f"{ratio:+.0f}% vs {vs}"
        moved = round(ratio) != 0
    if not moved:
        return Change(f"no change vs {vs}", "same")
    if good == "either":
        return Change(text, "same")
    up = delta > 0
    return Change(text, "better" if up == (good == "up") else "worse")


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


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (p90: the value 90% of them do not exceed)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(round(len(sorted_values) * fraction, 9)))
    return sorted_values[rank - 1]
