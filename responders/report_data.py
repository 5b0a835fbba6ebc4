"""The report's figures, aggregated in SQL for a period and the one before it (one scan covers both).

Nothing here loads a row per mention: each query groups in the database and returns at most a few thousand rows,
except the first-response durations (one float per thread) and a bounded sample of complaint texts for topics.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, distinct, func, select
from sqlmodel import Session, col

from responders.report_model import (
    COMPLAINT_THRESHOLD,
    TIERS,
    Complainer,
    DayVolume,
    PeriodFigures,
    Ranked,
    ReportData,
    ResponderRow,
    TierResponse,
    percentile,
)
from responders.report_period import Period
from responders.report_sql import (
    day_text,
    dialect_of,
    entity_counts,
    epoch,
    in_span,
    is_current,
    mapped_reads,
    mentions_between,
    stream_rows,
    wide_range,
    window,
)
from responders.report_topics import rank_topics
from responders.safe import one_line
from store import Store
from store.clock import utcnow
from store.models import Customer, Identity, Mention, Reply, ReplyStatus, Thread

TOP = 10
__all__ = ["COMPLAINT_THRESHOLD", "collect", "count_posts"]
# E-mail addresses are personal data and never a trend; orders are ids, but a repeated one is a story.
SKIP_ENTITY_LABELS = ("EMAIL",)


Step = Callable[[str], None]
# The classifier's labels, and their short forms (as sentiment_bucket folds them).
SENTIMENT_LABELS = {
    "negative": ("negative", "neg"),
    "neutral": ("neutral", "neu"),
    "positive": ("positive", "pos"),
}


def collect(
    source: Store | Session,
    period: Period,
    *,
    sla: Mapping[str, timedelta],
    now: datetime | None = None,
    step: Step | None = None,
) -> ReportData:
    """Every aggregate figure of `period` and of the period before it. `step` hears each group of queries begin.

    Given a Store, the groups run two at a time, each on a connection of its own: the database works on both
    while Python waits (SQLite too, which lets go of the interpreter lock inside a query). Given a Session, they
    run one after another on it.
    """
    say = step or (lambda _text: None)
    moment = now or utcnow()
    previous = period.previous()
    current, prior = PeriodFigures(), PeriodFigures()
    parts: dict[str, Any] = {}

    def volume(session: Session) -> None:
        # Topics sample complaints by how many there are, which this counts first.
        parts["volume"] = _volume(session, dialect_of(session), period, previous, current, prior)
        others = current.mentions + prior.mentions - current.complaints - prior.complaints
        parts["topics"] = rank_topics(session, period, previous, current.complaints, prior.complaints, others)

    def threads(session: Session) -> None:
        _thread_counts(session, period, previous, current, prior)
        _responses(session, dialect_of(session), period, previous, sla, moment, current, prior)

    def people(session: Session) -> None:
        parts["entities"] = _entities(session, dialect_of(session), period, previous)
        parts["complainers"] = _complainers(session, period, previous)
        parts["replies"] = _replies(session, dialect_of(session), period, previous)

    groups: list[tuple[str, Callable[[Session], None]]] = [
        ("Counting mentions per day, network, sentiment and urgency; complaint topics", volume),
        ("Counting active threads; first responses and SLA", threads),
        ("Ranking entities, complaining customers, responders and saved replies", people),
    ]
    if isinstance(source, Session):
        for text, group in groups:
            say(text)
            group(source)
    else:
        store = source

        def run(group: Callable[[Session], None]) -> None:
            with store.read() as session, mapped_reads(session):
                group(session)

        with ThreadPoolExecutor(2, thread_name_prefix="report") as pool:
            running = [pool.submit(run, group) for _text, group in groups]
            for (text, _group), future in zip(groups, running, strict=True):
                say(text)
                future.result()
    (days, networks), (topics, read) = parts["volume"], parts["topics"]
    responders, templates = parts["replies"]
    return ReportData(
        period=period,
        previous=previous,
        current=current,
        prior=prior,
        days=days,
        networks=networks,
        entities=parts["entities"],
        topics=topics,
        topics_read=read,
        complainers=parts["complainers"],
        responders=responders,
        templates=templates,
        sla_minutes={tier: int(budget.total_seconds() // 60) for tier, budget in sla.items()},
        generated_at=moment,
    )


def _volume(
    session: Session,
    dialect: str,
    period: Period,
    previous: Period,
    current: PeriodFigures,
    prior: PeriodFigures,
) -> tuple[list[DayVolume], list[str]]:
    # Grouped in an outer query: PostgreSQL cannot match a GROUP BY expression holding bound parameters. Few keys
    # and many conditional sums: SQLite groups by sorting, and a sort on three keys costs less than on six.
    rows = select(
        is_current(Mention.created_at, period).label("cur"),
        day_text(Mention.created_at, dialect).label("day"),
        col(Mention.network).label("network"),
        col(Mention.is_own).label("own"),
        col(Mention.sentiment).label("sentiment"),
        col(Mention.urgency_tier).label("tier"),
        col(Mention.complaint).label("complaint"),
    ).where(*mentions_between(session, previous.start, period.end))
    m = rows.subquery()
    customer = col(m.c.own).is_(False)

    def count_if(*conditions: Any) -> Any:
        return func.sum(case((and_(*conditions), 1), else_=0))

    keys = (m.c.cur, m.c.day, m.c.network)
    grouped = select(
        *keys,
        func.count(),
        count_if(customer),
        count_if(customer, m.c.complaint >= COMPLAINT_THRESHOLD),
        *(
            count_if(customer, m.c.sentiment.in_(SENTIMENT_LABELS[s]))
            for s in ("negative", "neutral", "positive")
        ),
        *(count_if(customer, m.c.tier == tier) for tier in TIERS[:-1]),
    ).group_by(*keys)
    days = {day: DayVolume(day=day) for day in period.days()}
    networks: Counter[str] = Counter()
    for cur, day, network, everyone, count, complaints, *counts in session.execute(grouped):
        figures = current if cur else prior
        figures.brand_posts += everyone - count
        figures.mentions += count
        figures.complaints += complaints
        figures.negative += counts[0]
        sentiments = dict(zip(("negative", "neutral", "positive"), counts[:3], strict=True))
        sentiments["unscored"] = count - sum(counts[:3])
        tiers = dict(zip(TIERS[:-1], counts[3:], strict=True))
        tiers["low"] = count - sum(counts[3:])
        for tier, n in tiers.items():
            figures.urgency[tier] += n
        volume = days.get(date.fromisoformat(day)) if cur else None
        if volume is not None and count:
            for sentiment, n in sentiments.items():
                volume.counts[sentiment] += n
            volume.networks[network] = volume.networks.get(network, 0) + count
            volume.complaints += complaints
            networks[network] += count
    ordered = [n for n, _count in sorted(networks.items(), key=lambda item: (-item[1], item[0]))]
    return list(days.values()), ordered


def _thread_counts(
    session: Session, period: Period, previous: Period, current: PeriodFigures, prior: PeriodFigures
) -> None:
    inner = (
        select(is_current(Mention.created_at, period).label("cur"), col(Mention.thread_id))
        .where(*mentions_between(session, previous.start, period.end))
        .subquery()
    )
    for cur, count in session.execute(
        select(inner.c.cur, func.count(distinct(inner.c.thread_id))).group_by(inner.c.cur)
    ):
        (current if cur else prior).threads = count


def _responses(
    session: Session,
    dialect: str,
    period: Period,
    previous: Period,
    sla: Mapping[str, timedelta],
    now: datetime,
    current: PeriodFigures,
    prior: PeriodFigures,
) -> None:
    """First response time and SLA of the threads whose first customer message came in each period.

    The tier is the thread's tier now: the one its SLA clock ran against unless the customer wrote again later.
    """
    started = epoch(Thread.first_inbound_at, dialect)
    query = select(
        is_current(Thread.first_inbound_at, period),
        col(Thread.tier),
        epoch(Thread.first_response_at, dialect) - started,
        started,
    ).where(*in_span(Thread.first_inbound_at, previous.start, period.end))
    waits: dict[tuple[int, str], list[float]] = {(c, t): [] for c in (0, 1) for t in TIERS}
    judged: dict[tuple[int, str], list[int]] = {(c, t): [0, 0, 0] for c in (0, 1) for t in TIERS}
    # Seconds each tier may wait (infinite: no SLA); a tier we do not know counts as low, as in the inbox.
    budgets = {t: sla[t].total_seconds() if t in sla else math.inf for t in TIERS}
    now_s = now.timestamp()
    for rows in stream_rows(session, query):
        for cur, tier, seconds, since in rows:
            key = (cur, tier if tier in budgets else "low")
            budget = budgets[key[1]]
            if seconds is not None:
                # julianday() arithmetic on SQLite leaves microsecond noise.
                seconds = round(seconds, 3) if seconds > 0 else 0.0
                waits[key].append(seconds)
                judged[key][0 if seconds <= budget else 1] += 1
            else:
                judged[key][1 if now_s - since > budget else 2] += 1
    for cur, figures in ((1, current), (0, prior)):
        everything: list[float] = []
        overall = TierResponse("all")
        for tier in TIERS:
            values = sorted(waits[(cur, tier)])
            everything.extend(values)
            met, missed, waiting = judged[(cur, tier)]
            figures.response[tier] = _summary(tier, values, met, missed, waiting)
            overall.met, overall.missed, overall.waiting = (
                overall.met + met,
                overall.missed + missed,
                overall.waiting + waiting,
            )
        everything.sort()
        summary = _summary("all", everything, overall.met, overall.missed, overall.waiting)
        figures.response["all"] = summary


def _summary(tier: str, values: list[float], met: int, missed: int, waiting: int) -> TierResponse:
    return TierResponse(
        tier=tier,
        answered=len(values),
        median_seconds=statistics.median(values) if values else None,
        p90_seconds=percentile(values, 0.9),
        met=met,
        missed=missed,
        waiting=waiting,
    )


def _entities(session: Session, dialect: str, period: Period, previous: Period) -> list[Ranked]:
    wide = wide_range(session, previous.start, period.end)
    query = entity_counts(dialect, limit=TOP, skip_labels=SKIP_ENTITY_LABELS, scan=wide)
    rows = session.execute(query, window(period.start, previous.start, period.end))
    return [
        Ranked(
            name=one_line(shown or entity, 80), current=current, previous=previous_count, detail=label or ""
        )
        for label, entity, shown, current, previous_count in rows
    ]


def _complainers(session: Session, period: Period, previous: Period) -> list[Complainer]:
    inner = (
        select(is_current(Mention.created_at, period).label("cur"), col(Identity.customer_id))
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .where(
            *mentions_between(session, previous.start, period.end),
            col(Mention.is_own).is_(False),
            col(Mention.complaint) >= COMPLAINT_THRESHOLD,
            col(Identity.customer_id).is_not(None),
        )
        .subquery()
    )
    now_count = func.sum(inner.c.cur)
    before = func.sum(1 - inner.c.cur, type_=Integer)
    top = session.execute(
        select(inner.c.customer_id, now_count, before)
        .group_by(inner.c.customer_id)
        .having(now_count > 0)
        .order_by(now_count.desc(), inner.c.customer_id)
        .limit(TOP)
    ).all()
    ids = [customer_id for customer_id, _now, _before in top]
    if not ids:
        return []
    names = {
        customer_id: name
        for customer_id, name in session.execute(
            select(col(Customer.id), col(Customer.display_name)).where(col(Customer.id).in_(ids))
        )
    }
    handles: dict[int, list[str]] = defaultdict(list)
    for customer_id, network, handle in session.execute(
        select(col(Identity.customer_id), col(Identity.network), col(Identity.handle))
        .where(col(Identity.customer_id).in_(ids))
        .order_by(col(Identity.id))
    ):
        handles[customer_id].append(f"{network}:@{one_line(handle, 60)}")
    return [
        Complainer(
            customer_id=customer_id,
            name=one_line(names.get(customer_id) or "", 80),
            handles=", ".join(handles[customer_id][:3]),
            complaints=int(now or 0),
            previous=int(before or 0),
        )
        for customer_id, now, before in top
    ]


def _replies(
    session: Session, dialect: str, period: Period, previous: Period
) -> tuple[list[ResponderRow], list[Ranked]]:
    """Replies sent through earful: per responder threads, replies and median time to answer the message they
    reply to; per saved reply how often it was used ("" for replies typed from scratch)."""
    query = (
        select(
            is_current(Reply.sent_at, period),
            col(Reply.responder),
            col(Reply.template),
            col(Reply.thread_id),
            epoch(Reply.sent_at, dialect) - epoch(Mention.created_at, dialect),
        )
        .join(Mention, col(Mention.id) == col(Reply.in_reply_to_id))
        .where(col(Reply.status) == ReplyStatus.SENT, *in_span(Reply.sent_at, previous.start, period.end))
    )
    threads: dict[tuple[int, str], set[int]] = defaultdict(set)
    waits: dict[tuple[int, str], list[float]] = defaultdict(list)
    templates: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cur, responder, template, thread_id, seconds in session.execute(query):
        threads[(cur, responder)].add(thread_id)
        waits[(cur, responder)].append(max(0.0, round(seconds or 0.0, 3)))
        templates[template or ""][0 if cur else 1] += 1
    rows = []
    for (cur, responder), handled in threads.items():
        if not cur:
            continue
        before = waits.get((0, responder))
        rows.append(
            ResponderRow(
                name=one_line(responder, 60),
                threads=len(handled),
                replies=len(waits[(1, responder)]),
                median_seconds=statistics.median(waits[(1, responder)]),
                previous_threads=len(threads.get((0, responder), ())),
                previous_median_seconds=statistics.median(before) if before else None,
            )
        )
    rows.sort(key=lambda r: (-r.threads, -r.replies, r.name))
    used = [
        Ranked(name=one_line(name, 80), current=now, previous=before)
        for name, (now, before) in templates.items()
        if now
    ]
    used.sort(key=lambda r: (-r.current, r.name))
    return rows, used


def count_posts(session: Session, period: Period) -> int:
    """Mentions (the customers' and the brand's) in the period: one cheap scan, to size the work ahead."""
    query = (
        select(func.count())
        .select_from(Mention)
        .where(*in_span(Mention.created_at, period.start, period.end))
    )
    return int(session.execute(query).scalar_one())
