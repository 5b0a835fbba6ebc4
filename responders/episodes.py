"""One alert per thread per episode: what a subscriber already heard about a thread is not sent again.

An episode is a customer's unanswered run in a thread: from their first message nobody answered
(`Thread.awaiting_since`) until the brand answers. Every rule about one thread (the per-mention rules, and the SLA
clock) keys its firing by the episode (`episode_key`), so the firings of one episode are the firings with that
key, whichever rule made them. Each rule still records its own firing (the history says what tripped, and a
subscriber who asked only for SLA alerts hears the SLA's own words), but a subscriber who has heard about the
episode already, from any rule, gets nothing more for it: the later firing is folded into the one they heard
(`figures["folded"]` says which), unless it says something new they must act on: the thread's tier rose to
`AlertSettings.escalate_tier` (critical) above anything they were told.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from store.clock import as_utc
from store.models import AlertEvent, AlertFiring
from store.threads import TIER_ORDER

if TYPE_CHECKING:  # alerts imports this module
    from responders.alerts import AlertSettings

EPISODE_PREFIX = "thread:"
# Deliveries that told a subscriber nothing: dropped because the brand answered first, or given up.
NOT_TOLD = ("answered", "failed")


def episode_key(thread_id: int, awaiting_since: datetime) -> str:
    return f"{EPISODE_PREFIX}{thread_id}:{as_utc(awaiting_since).isoformat(timespec='seconds')}"


def episode_start(key: str) -> datetime | None:
    """When the episode named by `key` began; None for a key that names no episode."""
    if not key.startswith(EPISODE_PREFIX):
        return None
    _, _, moment = key[len(EPISODE_PREFIX) :].partition(":")
    try:
        return as_utc(datetime.fromisoformat(moment))
    except ValueError:
        return None


def episode_firings(key: str, *, session: Session) -> list[AlertFiring]:
    return list(session.exec(select(AlertFiring).where(AlertFiring.key == key).order_by(col(AlertFiring.id))))


def tier_rank(tier: object) -> int:
    return TIER_ORDER.get(tier, -1) if isinstance(tier, str) else -1


def told_tier(firing: AlertFiring, revision: int) -> object:
    """The tier `firing` had when its `revision` was routed (`figures["tiers"]`, one per revision)."""
    figures = firing.figures if isinstance(firing.figures, dict) else {}
    tiers = figures.get("tiers")
    if isinstance(tiers, list) and 0 <= revision < len(tiers):
        return tiers[revision]
    return figures.get("tier")


def with_tier(figures: dict[str, Any], revision: int) -> dict[str, Any]:
    """`figures` with `figures["tier"]` noted as what `revision` tells (a new dict: JSON columns notice only
    assignment)."""
    tiers = [t for t in figures.get("tiers", []) if isinstance(t, str) or t is None][:revision]
    tiers += [None] * (revision - len(tiers))
    return {**figures, "tiers": [*tiers, figures.get("tier")]}


def route_episode(
    firing: AlertFiring, *, session: Session, settings: AlertSettings, now: datetime
) -> list[AlertEvent]:
    """Route `firing` (its current revision) to the subscribers who want it and have not heard of its episode
    yet, or were told of it at a lower tier than it now has, `settings.escalate_tier` or above. The others are
    noted in `figures["folded"]` (subscriber -> the firing they heard it from). A firing that is no thread's
    episode goes to everyone who wants it. Does not commit."""
    from responders.subscribers import route_firing

    if not firing.key.startswith(EPISODE_PREFIX):
        return route_firing(firing, session=session, settings=settings, now=now)
    if firing.id is None:
        session.flush()
    firings = {f.id: f for f in episode_firings(firing.key, session=session) if f.id is not None}
    if firing.id is not None:
        firings[firing.id] = firing
    heard: dict[str, list[AlertEvent]] = {}
    for event in session.exec(
        select(AlertEvent).where(
            col(AlertEvent.firing_id).in_(list(firings)), col(AlertEvent.status).not_in(NOT_TOLD)
        )
    ):
        heard.setdefault(event.subscriber, []).append(event)
    tier = tier_rank(firing.figures.get("tier") if isinstance(firing.figures, dict) else None)
    escalation = tier >= tier_rank(settings.escalate_tier)
    chosen = []
    folded: dict[str, int] = {}
    for subscriber in settings.subscribers:
        if not subscriber.wants_firing(firing):
            continue
        events = heard.get(subscriber.name, [])
        if any(e.firing_id == firing.id and e.revision == firing.revision for e in events):
            continue  # has this one already (a replay, another process)
        told = max(
            (
                tier_rank(told_tier(firings[e.firing_id], e.revision))
                for e in events
                if e.firing_id in firings
            ),
            default=None,
        )
        if told is None or (escalation and tier > told):
            chosen.append(subscriber)
        else:
            folded[subscriber.name] = min(e.firing_id for e in events if e.firing_id is not None)
    if folded:
        figures = dict(firing.figures) if isinstance(firing.figures, dict) else {}
        firing.figures = {**figures, "folded": {**figures.get("folded", {}), **folded}}
        session.add(firing)
    if not chosen:
        return []
    return route_firing(
        firing, session=session, settings=settings.model_copy(update={"subscribers": chosen}), now=now
    )
