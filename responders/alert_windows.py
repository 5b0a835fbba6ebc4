"""The rules that look at time rather than at one mention: SLA clocks, volume and negative-share spikes, new
incidents. `earful serve` evaluates them every minute (`evaluate_windows`); each event fires once (its key), and a
growing incident sends updates instead of new alerts.

An SLA alert is about one thread's episode (responders.episodes): it fires once per episode, warning before the
breach or at it, and a breach after its warning only refreshes that firing; a subscriber who heard of the thread
from a per-mention rule already is not told again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from responders.alert_rules import (
    AlertRule,
    IncidentRule,
    NegativeSpikeRule,
    SlaRule,
    VolumeSpikeRule,
)
from responders.alerts import AlertSettings
from responders.episodes import episode_key, route_episode, with_tier
from responders.firing import examples_of, find_firing, record_firing, update_firing
from responders.incident_alerts import incident_firings
from responders.report_model import human_duration, network_name
from responders.spikes import load_counts, negative_spike, volume_spike
from store import Store
from store.clock import as_utc
from store.models import AlertFiring, Mention, Thread, ThreadStatus
from store.threads import TIER_ORDER

log = logging.getLogger(__name__)

# A breach older than this when first seen (earful was down, or the rule was just added) is history, not news.
BREACH_NEWS_HOURS = 6
# At most this many SLA alerts per rule per evaluation: a backlog is one problem, not fifty messages.
SLA_ALERTS_PER_RUN = 20

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass
class WindowReport:
    fired: list[AlertFiring] = field(default_factory=list)
    updated: list[AlertFiring] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def evaluate_windows(
    store: Store, settings: AlertSettings, *, now: datetime, embed: Embed | None = None
) -> WindowReport:
    """Evaluate every enabled window rule at `now` and route what fires. Each rule commits on its own, so one
    failing rule (reported in `errors`) does not hold back the others."""
    report = WindowReport()
    for rule in settings.effective_rules():
        if not rule.enabled:
            continue
        if isinstance(rule, IncidentRule) and embed is None:
            continue
        try:
            with store.write() as session:
                outcome = _evaluate(rule, session, now, embed)
                if outcome is None:
                    continue
                fired, updated = outcome
                for firing in fired + updated:
                    route_episode(firing, session=session, settings=settings, now=now)
        except Exception as exc:  # one rule's bug must not silence the others
            log.exception("alert rule %s could not be evaluated", rule.name)
            report.errors.append(f"{rule.name}: {type(exc).__name__}: {exc}")
            continue
        report.fired.extend(fired)
        report.updated.extend(updated)
    return report


def sla_firings(
    rule: SlaRule, session: Session, now: datetime, _embed: Embed | None = None
) -> tuple[list[AlertFiring], list[AlertFiring]]:
    """Threads nobody has answered whose SLA is about to run out (within `before_minutes`) or has run out: one
    firing per thread episode; a breach after its warning refreshes the warning's firing, quietly."""
    horizon = now + timedelta(minutes=rule.before_minutes)
    oldest = now - timedelta(hours=BREACH_NEWS_HOURS)
    tiers = [t for t, rank in TIER_ORDER.items() if rank >= TIER_ORDER[rule.min_tier]]
    threads = session.exec(
        select(Thread)
        .where(
            col(Thread.first_response_at).is_(None),
            col(Thread.sla_due_at).is_not(None),
            col(Thread.sla_due_at) <= horizon,
            col(Thread.sla_due_at) >= oldest,
            col(Thread.status) != ThreadStatus.RESOLVED,
            col(Thread.tier).in_(tiers),
        )
        .order_by(col(Thread.sla_due_at))
    ).all()
    fired: list[AlertFiring] = []
    for thread in threads:
        if len(fired) >= SLA_ALERTS_PER_RUN:
            break
        if thread.snoozed_until is not None and as_utc(thread.snoozed_until) > now:
            continue
        if not rule.applies(thread.brand or None, thread.network):
            continue
        due = as_utc(thread.sla_due_at) if thread.sla_due_at else now
        breached = due <= now
        if breached and not rule.breached:
            continue
        if not breached and rule.before_minutes <= 0:
            continue
        first = session.exec(
            select(Mention.id)
            .where(Mention.thread_id == thread.id, col(Mention.is_own).is_(False))
            .order_by(col(Mention.created_at))
            .limit(1)
        ).first()
        where = f"{thread.tier} thread {thread.id} on {network_name(thread.network)}"
        if breached:
            overdue = (now - due).total_seconds()
            state, figures = "breached", dict[str, Any](overdue_minutes=round(overdue / 60, 1))
            sentence = f"Nobody has answered {where}, and its SLA ran out {human_duration(overdue)} ago."
            title = f"SLA breached: {where}"
        else:
            left = (due - now).total_seconds()
            state, figures = "due", dict[str, Any](due_in_minutes=round(left / 60, 1))
            sentence = f"Nobody has answered {where} yet, and its SLA runs out in {human_duration(left)}."
            title = f"SLA about to breach: {where}"
        key = (
            episode_key(thread.id, thread.awaiting_since)
            if thread.awaiting_since is not None and thread.id is not None
            else f"sla:{thread.id}:{due:%Y%m%dT%H%M%S}"
        )
        figures = {**figures, "state": state, "tier": thread.tier, "urgency": thread.urgency}
        told = find_firing(rule.name, key, session=session)
        if told is not None:
            if told.figures.get("state") != state:
                # The breach its warning announced: the history says so; nobody is told twice.
                kept = {
                    k: v for k, v in told.figures.items() if k not in ("due_in_minutes", "tier", "urgency")
                }
                refreshed = {**kept, **figures}
                update_firing(
                    told,
                    session=session,
                    now=now,
                    title=title,
                    reason=sentence,
                    figures=refreshed,
                    notify=False,
                )
            continue
        firing = record_firing(
            session=session,
            rule=rule.name,
            kind="sla",
            key=key,
            brand=thread.brand or None,
            network=thread.network,
            title=title,
            reason=sentence,
            now=now,
            figures=with_tier(figures, 0),
            examples=examples_of([first] if first is not None else [], session=session),
            thread_ids=[thread.id] if thread.id is not None else [],
        )
        if firing is not None:
            fired.append(firing)
    return fired, []


def spike_firings(
    rule: VolumeSpikeRule | NegativeSpikeRule, session: Session, now: datetime, _embed: Embed | None = None
) -> tuple[list[AlertFiring], list[AlertFiring]]:
    """A spike per brand (and per network when the rule names networks) against its hour-of-week baseline.

    One alert per episode: while the same brand keeps spiking (a firing of this rule refreshed within the
    window), its firing's figures are refreshed quietly instead of alerting again."""
    since = now - timedelta(minutes=rule.window_minutes)
    brands = rule.brands or _active_brands(session, since, now)
    fired: list[AlertFiring] = []
    for brand in brands:
        networks: list[str | None] = [*rule.networks] or [None]
        for network in networks:
            history, window = load_counts(
                session=session,
                now=now,
                window_minutes=rule.window_minutes,
                history_weeks=rule.history_weeks,
                brand=brand,
                network=network,
            )
            result = (
                volume_spike(history, window, rule=rule)
                if isinstance(rule, VolumeSpikeRule)
                else negative_spike(history, window, rule=rule)
            )
            if result is None:
                continue
            scope = f"{brand}{f' on {network_name(network)}' if network else ''}"
            figures = {**result.figures(), "brand": brand}
            episode = _latest(session, rule.name, brand=brand, network=network, since=since)
            if episode is not None:
                update_firing(episode, session=session, now=now, figures=figures, notify=False)
                continue
            what = "Volume spike" if isinstance(rule, VolumeSpikeRule) else "Negative-share spike"
            examples = _window_examples(session, since, now, brand, network, negative=what != "Volume spike")
            firing = record_firing(
                session=session,
                rule=rule.name,
                kind=rule.kind,
                key=f"{rule.kind}:{brand}:{network or 'all'}:{window.start:%Y%m%dT%H%M}",
                brand=brand,
                network=network,
                title=f"{what} for {scope}: {result.mentions} mentions in {rule.window_minutes} min",
                reason=f"{what} for {scope}: {result.reason}.",
                now=now,
                figures=figures,
                examples=examples_of(examples, session=session),
                thread_ids=_threads_of(session, examples),
            )
            if firing is not None:
                fired.append(firing)
    return fired, []


def _active_brands(session: Session, since: datetime, now: datetime) -> list[str]:
    rows = session.exec(
        select(Mention.brand)
        .where(
            col(Mention.created_at) >= since, col(Mention.created_at) <= now, col(Mention.is_own).is_(False)
        )
        .distinct()
    )
    return sorted(b for b in rows if b)


def _latest(
    session: Session, rule: str, *, brand: str, network: str | None, since: datetime
) -> AlertFiring | None:
    query = select(AlertFiring).where(
        AlertFiring.rule == rule, AlertFiring.brand == brand, col(AlertFiring.updated_at) >= since
    )
    query = (
        query.where(AlertFiring.network == network)
        if network
        else query.where(col(AlertFiring.network).is_(None))
    )
    return session.exec(query.order_by(col(AlertFiring.updated_at).desc()).limit(1)).first()


def _window_examples(
    session: Session, since: datetime, now: datetime, brand: str, network: str | None, *, negative: bool
) -> list[int]:
    """The most urgent customer mentions of the window (negative ones for a negative spike)."""
    query = select(Mention.id).where(
        col(Mention.created_at) >= since,
        col(Mention.created_at) <= now,
        col(Mention.is_own).is_(False),
        Mention.brand == brand,
    )
    if network:
        query = query.where(Mention.network == network)
    if negative:
        query = query.where(Mention.sentiment == "negative")
    ids = session.exec(query.order_by(col(Mention.urgency).desc(), col(Mention.id)).limit(3)).all()
    return [i for i in ids if i is not None]


def _threads_of(session: Session, mention_ids: Sequence[int]) -> list[int]:
    if not mention_ids:
        return []
    rows = session.exec(select(Mention.id, Mention.thread_id).where(col(Mention.id).in_(mention_ids))).all()
    order = {m: t for m, t in rows}
    return [order[m] for m in mention_ids if m in order]


def _evaluate(
    rule: AlertRule, session: Session, now: datetime, embed: Embed | None
) -> tuple[list[AlertFiring], list[AlertFiring]] | None:
    """(fired, updated) for a window rule; None for the rules that are not evaluated on the clock here."""
    if isinstance(rule, SlaRule):
        return sla_firings(rule, session, now)
    if isinstance(rule, VolumeSpikeRule | NegativeSpikeRule):
        return spike_firings(rule, session, now)
    if isinstance(rule, IncidentRule):
        return incident_firings(rule, session, now, embed)
    return None
