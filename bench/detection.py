"""How well the spike rules detect: detection delay and false alarms per week, on synthetic series with known
change points and on real timestamps (SpotifyCares in the TWCS sample, Oct-Dec 2017).

The detector is replayed as `earful serve` runs it: every few minutes, the rule's window ending now, the baseline
fitted on the whole hours of history before the window. tests/responders/test_spikes.py asserts these figures;
`python -m bench detection` prints them over more seeds.
"""

from __future__ import annotations

import csv
import gzip
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from responders.alert_rules import NegativeSpikeRule, VolumeSpikeRule
from responders.spikes import (
    Baseline,
    evaluate_negative,
    evaluate_volume,
    fit_baseline,
    hour_start,
    hourly_counts,
)

HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)
# A Monday, so week k of a synthetic series starts at MONDAY + k weeks.
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
# Relative volume by UTC hour of day (quiet night, morning rise, busy afternoon and evening) and by weekday.
DAY_PROFILE = np.array(
    [0.5, 0.35, 0.3, 0.25, 0.25, 0.3, 0.45, 0.7, 1.0, 1.25, 1.4, 1.5,
     1.55, 1.55, 1.5, 1.45, 1.4, 1.35, 1.35, 1.3, 1.2, 1.0, 0.8, 0.65]
)  # fmt: skip
WEEK_PROFILE = np.array([1.1, 1.1, 1.05, 1.05, 1.0, 0.75, 0.8])


@dataclass(frozen=True)
class Change:
    """From `start` for `hours`: volume times `volume`, negative share times `negative`."""

    start: datetime
    hours: float
    volume: float = 1.0
    negative: float = 1.0


@dataclass
class Series:
    """Customer mentions as sorted times (seconds since `origin`) and whether each is negative."""

    origin: datetime
    seconds: np.ndarray
    negative: np.ndarray
    hourly: dict[datetime, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        order = np.argsort(self.seconds, kind="stable")
        self.seconds, self.negative = self.seconds[order], self.negative[order]
        hours = (self.seconds // 3600).astype(np.int64)
        ids, first = np.unique(hours, return_index=True)
        negatives = np.add.reduceat(self.negative.astype(np.int64), first) if len(first) else np.zeros(0)
        counts = np.diff(np.append(first, len(hours)))
        self.hourly = {
            self.origin + int(h) * HOUR: (int(c), int(n))
            for h, c, n in zip(ids, counts, negatives, strict=True)
        }

    def window(self, start: datetime, end: datetime) -> tuple[int, int]:
        lo, hi = np.searchsorted(self.seconds, [self._at(start), self._at(end)], side="left")
        return int(hi - lo), int(self.negative[lo:hi].sum())

    def _at(self, moment: datetime) -> float:
        return (moment - self.origin).total_seconds()


def synthetic(
    seed: int,
    *,
    weeks: int = 5,
    level: float = 30.0,
    phi: float = 0.1,
    share: float = 0.3,
    share_concentration: float = 300.0,
    changes: Sequence[Change] = (),
) -> Series:
    """`weeks` weeks of a busy brand from MONDAY: the profiles above, a drift of a few percent per week, day-level
    and hour-level gamma noise (hourly variance mu + phi*mu^2 overall), the negative share varying by hour (beta)."""
    rng = np.random.default_rng(seed)
    hours = weeks * 168
    index = np.arange(hours)
    drift = rng.normal(1.0, 0.04, weeks)[index // 168]
    day = rng.gamma(1 / 0.01, 0.01, weeks * 7)[index // 24]  # days differ by about 10%
    hour_noise = rng.gamma(1 / phi, phi, hours)
    rate = level * DAY_PROFILE[index % 24] * WEEK_PROFILE[(index // 24) % 7] * drift * day * hour_noise
    p = rng.beta(share * share_concentration, (1 - share) * share_concentration, hours)
    seconds, negative = [], []
    for h in range(hours):
        count = rng.poisson(rate[h])
        seconds.append(h * 3600 + rng.uniform(0, 3600, count))
        negative.append(rng.uniform(size=count) < p[h])
    for change in changes:
        begin = (change.start - MONDAY).total_seconds()
        for h in range(int(begin // 3600), int(np.ceil((begin + change.hours * 3600) / 3600))):
            lo, hi = max(begin, h * 3600), min(begin + change.hours * 3600, (h + 1) * 3600)
            inside = (seconds[h] >= lo) & (seconds[h] < hi)
            # More negative share: turn some of the hour's mentions negative; more volume: add mentions.
            flip = inside & ~negative[h] & (rng.uniform(size=len(inside)) < _flip(p[h], change.negative))
            negative[h] = negative[h] | flip
            extra = rng.poisson((change.volume - 1) * rate[h] * (hi - lo) / 3600)
            seconds.append(rng.uniform(lo, hi, extra))
            negative.append(rng.uniform(size=extra) < min(p[h] * change.negative, 0.95))
    return Series(MONDAY, np.concatenate(seconds), np.concatenate(negative))


def _flip(p: float, factor: float) -> float:
    """The chance to turn a positive into a negative so the share goes from p to factor*p."""
    target = min(p * factor, 0.95)
    return max(target - p, 0.0) / (1 - p) if p < 1 else 0.0


# The rules' defaults: what the figures are for.
VOLUME, NEGATIVE = VolumeSpikeRule(name="volume"), NegativeSpikeRule(name="negative")


@dataclass
class Replay:
    """When each rule fired (evaluation times) over [start, end)."""

    volume: list[datetime]
    negative: list[datetime]


def replay(
    series: Series,
    *,
    start: datetime,
    end: datetime,
    every_minutes: int = 5,
    volume_rule: VolumeSpikeRule | None = VOLUME,
    negative_rule: NegativeSpikeRule | None = NEGATIVE,
) -> Replay:
    """Evaluate the rules (None: not that one) every `every_minutes` from `start` to `end`, as `earful serve`
    would."""
    rules = [r for r in (volume_rule, negative_rule) if r is not None]
    fitted: dict[tuple[datetime, int], Baseline] = {}
    result = Replay([], [])
    now = start
    while now < end:
        for rule in rules:
            window_start = now - timedelta(minutes=rule.window_minutes)
            until = hour_start(window_start)
            key = (until, rule.history_weeks)
            if key not in fitted:
                fitted[key] = fit_baseline(
                    series.hourly, since=until - timedelta(weeks=rule.history_weeks), until=until
                )
            total, negative = series.window(window_start, now)
            span: dict[str, Any] = {"window_start": window_start, "window_end": now, "baseline": fitted[key]}
            if isinstance(rule, VolumeSpikeRule):
                if evaluate_volume(total, **span, rule=rule) is not None:
                    result.volume.append(now)
            elif evaluate_negative(total, negative, **span, rule=rule) is not None:
                result.negative.append(now)
        now += timedelta(minutes=every_minutes)
    return result


def episodes(fired: Sequence[datetime], *, gap: timedelta = timedelta(minutes=60)) -> list[datetime]:
    """The start of each alarm: firings closer than `gap` to the previous one are the same alarm (the alert
    for that spike is already out)."""
    starts: list[datetime] = []
    last: datetime | None = None
    for moment in fired:
        if last is None or moment - last > gap:
            starts.append(moment)
        last = moment
    return starts


def delay_minutes(fired: Sequence[datetime], change: Change, *, grace_hours: float = 1.0) -> float | None:
    """Minutes from the change to the first firing during it (or within `grace_hours` after); None: missed."""
    last = change.start + timedelta(hours=change.hours + grace_hours)
    hits = [t for t in fired if change.start <= t <= last]
    return (hits[0] - change.start) / MINUTE if hits else None


# ---------------------------------------------------------------------------------------------- measurements


def quiet_weeks(seeds: Sequence[int]) -> dict[str, float]:
    """False alarms per week in a 5th week with no change, the baseline learning from the 4 before (rolling)."""
    volume, negative = [], []
    for seed in seeds:
        result = replay(synthetic(seed), start=MONDAY + timedelta(weeks=4), end=MONDAY + timedelta(weeks=5))
        volume.append(len(episodes(result.volume)))
        negative.append(len(episodes(result.negative)))
    return {"weeks": len(seeds), "volume_per_week": _mean(volume), "negative_per_week": _mean(negative)}


def steps(
    seeds: Sequence[int], *, volume: float = 3.0, negative: float = 2.0, daytime: bool = True
) -> dict[str, dict[str, float]]:
    """Detection of a 3-hour step in the 5th week (volume x`volume` in one series, negative share x`negative`
    in another), starting at a random minute of a random weekday hour (08-18 UTC if `daytime`)."""
    volume_delays: list[float | None] = []
    negative_delays: list[float | None] = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for factors, delays in (((volume, 1.0), volume_delays), ((1.0, negative), negative_delays)):
            hour = int(rng.integers(8, 18)) if daytime else int(rng.integers(0, 24))
            start = MONDAY + timedelta(weeks=4, days=int(rng.integers(0, 5)), hours=hour)
            change = Change(start + timedelta(minutes=int(rng.integers(0, 60))), 3.0, *factors)
            result = replay(
                synthetic(seed, changes=[change]),
                start=change.start - HOUR,
                end=change.start + timedelta(hours=change.hours + 1),
            )
            delays.append(delay_minutes(result.volume if factors[0] > 1 else result.negative, change))
    return {"volume": _delays(volume_delays), "negative": _delays(negative_delays)}


def new_installs(seeds: Sequence[int]) -> dict[str, float]:
    """A brand listened to from a random moment: alarms in its first week (no spike in it), and in its first day."""
    first_week, first_day = [], []
    for seed in seeds:
        series = synthetic(seed, weeks=2)
        began = MONDAY + timedelta(hours=int(np.random.default_rng(seed).integers(0, 168)), minutes=13)
        keep = series.seconds >= (began - MONDAY).total_seconds()
        result = replay(
            Series(MONDAY, series.seconds[keep], series.negative[keep]),
            start=began,
            end=began + timedelta(days=7),
        )
        alarms = episodes(result.volume) + episodes(result.negative)
        first_week.append(len(alarms))
        first_day.append(sum(1 for t in alarms if t < began + timedelta(days=1)))
    return {
        "installs": len(seeds),
        "first_week_alarms": _mean(first_week),
        "first_day_alarms": _mean(first_day),
    }


@dataclass(frozen=True)
class Tweet:
    tweet_id: int
    author_id: str
    created_at: datetime
    text: str


# SpotifyCares' customer tweets from the TWCS sample, bundled so the tests that replay them run wherever the
# repository is checked out; scripts/build_detection_data.py rebuilds it (bench/data/SOURCE.md).
BUNDLED = Path(__file__).resolve().parent / "data" / "spotifycares_inbound.csv.gz"


def spotify_tweets(path: Path = BUNDLED) -> list[Tweet]:
    """SpotifyCares' customer tweets (TWCS sample, support_requests.csv), oldest first: ~10 an hour from Oct 4
    to Dec 3 2017, no labels."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    tweets = [
        Tweet(
            int(row["tweet_id"]),
            row["author_id"],
            datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y").astimezone(UTC),
            row["text"],
        )
        for row in rows
    ]
    return sorted(tweets, key=lambda t: (t.created_at, t.tweet_id))


def spotify(path: Path = BUNDLED) -> Series:
    """The times of `spotify_tweets` from Monday 2017-10-02 on, none negative (the sample has no sentiment)."""
    seconds = np.array([(t.created_at - SPOTIFY_ORIGIN).total_seconds() for t in spotify_tweets(path)])
    kept = seconds[seconds >= 0]
    return Series(SPOTIFY_ORIGIN, kept, np.zeros(len(kept), dtype=bool))


SPOTIFY_ORIGIN = datetime(2017, 10, 2, tzinfo=UTC)
# Four weeks of history from the first full day (Oct 4), then every day the sample covers.
SPOTIFY_EVALUATED = (datetime(2017, 11, 1, tzinfo=UTC), datetime(2017, 12, 4, tzinfo=UTC))
# The one stretch that fires on the real series: customers replying "same problem here" to each other about
# a Spotify fault, volume 2.5-3.4x usual. A real event, so not counted as a false alarm.
SPOTIFY_EVENT = (datetime(2017, 11, 28, 12, tzinfo=UTC), datetime(2017, 11, 29, 12, tzinfo=UTC))


def recorded(series: Series, *, injections: int = 27, factor: int = 3) -> dict[str, Any]:
    """The volume rule over SpotifyCares' real timestamps: alarms outside the known event, per week; then a
    `factor`x step for 3 hours injected at one random moment of each day of November (the extra mentions are
    the real ones of the same hours 1 and 2 weeks before, shifted in), and the delay to detect it."""
    start, end = SPOTIFY_EVALUATED
    result = replay(series, start=start, end=end, negative_rule=None)
    alarms = episodes(result.volume)
    quiet = [t for t in alarms if not SPOTIFY_EVENT[0] <= t < SPOTIFY_EVENT[1]]
    quiet_weeks = ((end - start) - (SPOTIFY_EVENT[1] - SPOTIFY_EVENT[0])) / timedelta(weeks=1)
    rng = np.random.default_rng(7)
    delays = []
    for day in range(1, injections + 1):
        moment = datetime(2017, 11, day, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 24 * 60)))
        change = Change(moment, 3.0, float(factor))
        lo = (moment - series.origin).total_seconds()
        week = 7 * 86400
        extra = [
            series.seconds[(series.seconds >= lo - w * week) & (series.seconds < lo + 3 * 3600 - w * week)]
            + w * week
            for w in range(1, factor)
        ]
        seconds = np.concatenate([series.seconds, *extra])
        injected = replay(
            Series(series.origin, seconds, np.zeros(len(seconds), dtype=bool)),
            start=moment - HOUR,
            end=moment + timedelta(hours=4),
            negative_rule=None,
        )
        delays.append(delay_minutes(injected.volume, change))
    return {
        "weeks": round(quiet_weeks, 2),
        "alarms": [t.isoformat() for t in alarms],
        "false_alarms_per_week": round(len(quiet) / quiet_weeks, 2),
        "injected": _delays(delays),
    }


def _mean(values: Sequence[float]) -> float:
    return round(float(np.mean(values)), 3) if values else 0.0


def _delays(delays: Sequence[float | None]) -> dict[str, float]:
    caught = sorted(d for d in delays if d is not None)
    return {
        "changes": len(delays),
        "detected": round(len(caught) / len(delays), 3) if delays else 0.0,
        "median_delay_min": statistics.median(caught) if caught else float("nan"),
        "within_60_min": round(sum(d <= 60 for d in caught) / len(delays), 3) if delays else 0.0,
    }


# ---------------------------------------------------------------------------------------------- the bench


def query_seconds(workdir: Path, *, per_hour: int = 100, weeks: int = 4) -> dict[str, float]:
    """`hourly_counts` over `weeks` of a brand with `per_hour` customer mentions an hour (and as many of
    another brand's), on SQLite: what a spike rule costs each time it runs."""
    from sqlalchemy import insert

    from store import Store
    from store.models import Identity, Mention, Thread

    store = Store(f"sqlite:///{workdir / 'spikes.db'}")
    store.migrate()
    end = datetime(2026, 11, 30, tzinfo=UTC)
    rng = np.random.default_rng(0)
    with store.write() as session:
        identity, thread = Identity(network="x", native_user_id="u"), Thread(network="x", conversation_id="c")
        session.add_all([identity, thread])
        session.flush()
        offsets = rng.uniform(0, weeks * 604800, 2 * per_hour * weeks * 168)
        rows: list[dict[str, Any]] = [
            {"network": "x", "native_id": str(i), "thread_id": thread.id, "identity_id": identity.id, "text": "t",
             "brand": ("acme", "globex")[i % 2], "created_at": end - timedelta(seconds=float(s)),
             "sentiment": "negative" if i % 3 == 0 else "neutral", "raw": {}, "sentiment_probs": {},
             "entities": [], "explanation": [], "risks": []}
            for i, s in enumerate(offsets)
        ]  # fmt: skip
        session.execute(insert(Mention), rows)
    started = time.perf_counter()
    with store.read() as session:
        for _ in range(5):
            counts = hourly_counts(
                session=session, since=end - timedelta(weeks=weeks), until=end, brand="acme"
            )
    seconds = (time.perf_counter() - started) / 5
    store.dispose()
    return {"mentions": len(rows), "hours": len(counts), "seconds": round(seconds, 3)}


def run(workdir: Path) -> dict[str, Any]:
    from bench.incidents import incidents

    return {
        "quiet_synthetic": quiet_weeks(range(100)),
        "steps_daytime": steps(range(1000, 1100)),
        "steps_any_hour": steps(range(2000, 2100), daytime=False),
        "new_installs": new_installs(range(3000, 3050)),
        "recorded_spotify": recorded(spotify()),
        "query": query_seconds(workdir),
        "incidents": incidents(),
    }


def report(result: dict[str, Any]) -> None:
    quiet, install, real = result["quiet_synthetic"], result["new_installs"], result["recorded_spotify"]
    print(
        f"spikes, quiet synthetic weeks ({quiet['weeks']}): {quiet['volume_per_week']} volume and "
        f"{quiet['negative_per_week']} negative-share false alarms per week"
    )
    for name in ("steps_daytime", "steps_any_hour"):
        for kind, label in (("volume", "3x volume"), ("negative", "2x negative share")):
            f = result[name][kind]
            print(
                f"spikes, {label} for 3 h ({name[6:].replace('_', ' ')}, {f['changes']} changes): detected "
                f"{f['detected']:.0%}, median delay {f['median_delay_min']} min, within 60 min {f['within_60_min']:.0%}"
            )
    print(
        f"spikes, new installs ({install['installs']}): {install['first_week_alarms']} alarms in the first week, "
        f"{install['first_day_alarms']} in the first day"
    )
    injected = real["injected"]
    print(
        f"spikes, SpotifyCares real times ({real['weeks']} quiet weeks): {real['false_alarms_per_week']} false "
        f"alarms/week; 3x injected ({injected['changes']}): detected {injected['detected']:.0%}, median delay "
        f"{injected['median_delay_min']} min; alarms at {', '.join(real['alarms'])}"
    )
    q = result["query"]
    print(
        f"spikes, hourly_counts over 4 weeks of {q['mentions']} mentions (SQLite): {q['seconds'] * 1000:.0f} ms"
    )
    for similarity, f in result["incidents"].items():
        print(
            f"incidents at similarity {similarity}: {f['false_per_week']} false/week on SpotifyCares, the real "
            f"event seen with {f['event_customers']} customers, theme recall {f['theme_recall']:.0%}, "
            f"{f['background_incidents']} incidents of background alone"
        )
