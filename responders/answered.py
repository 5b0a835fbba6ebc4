"""An alert about a thread the brand has answered since is not sent: nobody must act on it any more.

Checked when a per-mention rule fires (the brand's reply may be in the same ingest batch as the complaint) and
again just before each delivery and each digest (the reply may come while an alert waits for a subscriber that is
down, for the end of quiet hours or for its digest). "Answered" means a post of the brand's own in the thread, or
a reply sent from the desk, at or after the mention (for an SLA alert: after the episode began), or the thread
resolved. The firing keeps why in `figures["answered"]`; a delivery dropped for it has status "answered".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from responders.alert_rules import MENTION_KINDS
from responders.episodes import episode_start
from responders.report_model import network_name
from store import Store
from store.clock import as_utc
from store.models import AlertEvent, AlertFiring, Mention, Reply, ReplyStatus, Thread, ThreadStatus

log = logging.getLogger(__name__)

ANSWERED = "answered"
# What is about one thread's customer waiting: these firings lapse once the brand answers.
THREAD_KINDS = (*MENTION_KINDS, "sla")
_WAITING = ("pending", "held")


def answered_since(thread: Thread, since: datetime, *, session: Session) -> str | None:
    """Why the thread needs no alert about what the customer wrote at `since`, or None if it still waits."""
    if thread.status == ThreadStatus.RESOLVED:
        return "the thread was resolved before the alert went out"
    since = as_utc(since)
    own = session.exec(
        select(Mention.created_at)
        .where(
            Mention.thread_id == thread.id, col(Mention.is_own).is_(True), col(Mention.created_at) >= since
        )
        .order_by(col(Mention.created_at))
        .limit(1)
    ).first()
    if own is not None:
        return (
            f"the brand answered on {network_name(thread.network)} at {as_utc(own):%Y-%m-%d %H:%M} UTC, "
            "before the alert went out"
        )
    sent = session.exec(
        select(Reply.sent_at, Reply.responder)
        .where(
            Reply.thread_id == thread.id,
            Reply.status == ReplyStatus.SENT,
            col(Reply.sent_at).is_not(None),
            col(Reply.sent_at) >= since,
        )
        .order_by(col(Reply.sent_at))
        .limit(1)
    ).first()
    if sent is not None and sent[0] is not None:
        return f"{sent[1]} replied from the desk at {as_utc(sent[0]):%Y-%m-%d %H:%M} UTC, before the alert went out"
    return None


def firing_answered(firing: AlertFiring, *, session: Session) -> str | None:
    """Why `firing` need not reach anyone any more, or None. Only firings about one thread's waiting lapse."""
    if firing.kind not in THREAD_KINDS or not firing.thread_ids:
        return None
    figures = firing.figures if isinstance(firing.figures, dict) else {}
    if isinstance(figures.get(ANSWERED), str):
        return str(figures[ANSWERED])
    thread = session.get(Thread, firing.thread_ids[0])
    if thread is None:
        return None
    since = episode_start(firing.key)
    mention_id = figures.get("mention_id")
    if isinstance(mention_id, int):
        created = session.exec(select(Mention.created_at).where(Mention.id == mention_id)).first()
        since = as_utc(created) if created is not None else since
    if since is None:
        return None
    return answered_since(thread, since, session=session)


def drop_answered(store: Store, events: Sequence[AlertEvent]) -> set[int]:
    """Mark each waiting delivery whose firing's thread was answered since as "answered" (not sent), and note
    why on its firing; returns the ids dropped. Deliveries another process took meanwhile are left alone."""
    wanted = {e.firing_id for e in events if e.firing_id is not None and e.status in _WAITING}
    if not wanted:
        return set()
    with store.read() as session:
        firings = session.exec(
            select(AlertFiring).where(
                col(AlertFiring.id).in_(wanted), col(AlertFiring.kind).in_(THREAD_KINDS)
            )
        ).all()
        reasons = {f.id: why for f in firings if (why := firing_answered(f, session=session)) is not None}
    if not reasons:
        return set()  # the usual case: no write transaction for nothing
    dropped: set[int] = set()
    with store.write() as session:
        for firing_id, why in reasons.items():
            ids = [e.id for e in events if e.firing_id == firing_id and e.id is not None]
            result = session.exec(
                update(AlertEvent)
                .where(col(AlertEvent.id).in_(ids), col(AlertEvent.status).in_(_WAITING))
                .values(status=ANSWERED, error=why)
            )
            if not result.rowcount:
                continue
            dropped.update(ids)
            firing = session.get(AlertFiring, firing_id)
            if firing is not None and firing.figures.get(ANSWERED) != why:
                firing.figures = {**firing.figures, ANSWERED: why}
                session.add(firing)
            log.info("alert %s not sent to %d subscriber(s): %s", firing_id, result.rowcount, why)
    return dropped
