"""Storing a rule's firing once, updating it as its event grows, and handing it to the subscribers.

A firing is keyed by (rule, key): the key names the event ("mention:123", "incident:456", "volume:acme:..."), so
whatever evaluates a rule twice (a replayed mention, two `earful serve` processes, a restart) stores it once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from responders.safe import one_line, strip_controls
from store.clock import as_utc
from store.models import AlertEvent, AlertFiring, Identity, Mention

log = logging.getLogger(__name__)

# A delivery's error text starts with its last attempt's time and number, so the backoff needs no column of
# its own: "<ISO time> attempt N: <what went wrong>".
ATTEMPT_STAMP = re.compile(r"^(\S+) attempt (\d+): ")

# Examples are stored with the firing so its alert reads the same tomorrow; they are pointers, not archives.
EXAMPLE_TEXT_CHARS = 1000
MAX_EXAMPLES = 3
MAX_THREADS = 200


def example(mention: Mention, identity: Identity | None) -> dict[str, Any]:
    handle = ""
    if identity is not None:
        handle = identity.handle or identity.display_name or identity.native_user_id
    text = strip_controls(mention.text).strip()
    if len(text) > EXAMPLE_TEXT_CHARS:
        text = text[: EXAMPLE_TEXT_CHARS - 1] + "…"
    return {
        "mention_id": mention.id,
        "thread_id": mention.thread_id,
        "network": mention.network,
        "handle": one_line(handle, 100),
        "text": text,
        "created_at": as_utc(mention.created_at).isoformat(timespec="seconds"),
    }


def examples_of(mention_ids: Sequence[int], *, session: Session) -> list[dict[str, Any]]:
    """Examples for the first few of `mention_ids`, in that order."""
    wanted = list(dict.fromkeys(mention_ids))[:MAX_EXAMPLES]
    if not wanted:
        return []
    rows = session.exec(
        select(Mention, Identity)
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .where(col(Mention.id).in_(wanted))
    ).all()
    found = {m.id: example(m, i) for m, i in rows}
    return [found[m] for m in wanted if m in found]


def record_firing(
    *,
    session: Session,
    rule: str,
    kind: str,
    key: str,
    title: str,
    reason: str,
    now: datetime,
    brand: str | None = None,
    network: str | None = None,
    figures: dict[str, Any] | None = None,
    examples: list[dict[str, Any]] | None = None,
    thread_ids: Iterable[int] = (),
) -> AlertFiring | None:
    """Store a new firing; None if this (rule, key) already fired (here or in another process). Does not commit."""
    firing = AlertFiring(
        rule=rule[:100],
        kind=kind,
        key=key[:200],
        brand=brand,
        network=network,
        title=one_line(title, 300),
        reason=one_line(reason),
        figures=figures or {},
        examples=examples or [],
        thread_ids=_thread_list(thread_ids),
        created_at=now,
        updated_at=now,
    )
    if find_firing(rule, key, session=session) is not None:
        return None
    try:
        with session.begin_nested():
            session.add(firing)
    except IntegrityError:
        return None  # another writer stored it between our look and our insert
    return firing


def update_firing(
    firing: AlertFiring,
    *,
    session: Session,
    now: datetime,
    reason: str | None = None,
    title: str | None = None,
    figures: dict[str, Any] | None = None,
    examples: list[dict[str, Any]] | None = None,
    thread_ids: Iterable[int] | None = None,
    notify: bool = True,
) -> AlertFiring:
    """Refresh a firing's figures; `notify` makes it a new revision, which subscribers get as an update."""
    if reason is not None:
        firing.reason = one_line(reason)
    if title is not None:
        firing.title = one_line(title, 300)
    if figures is not None:
        firing.figures = figures
    if examples is not None:
        firing.examples = examples
    if thread_ids is not None:
        firing.thread_ids = _thread_list(thread_ids)
    firing.updated_at = now
    if notify:
        firing.revision += 1
    session.add(firing)
    session.flush()
    return firing


def find_firing(rule: str, key: str, *, session: Session) -> AlertFiring | None:
    return session.exec(
        select(AlertFiring).where(AlertFiring.rule == rule[:100], AlertFiring.key == key[:200])
    ).first()


def recent_firings(
    *, session: Session, limit: int = 50, since: datetime | None = None
) -> list[tuple[AlertFiring, list[AlertEvent]]]:
    """The latest firings, newest first, each with its deliveries (oldest first)."""
    query = select(AlertFiring).order_by(col(AlertFiring.created_at).desc(), col(AlertFiring.id).desc())
    if since is not None:
        query = query.where(col(AlertFiring.updated_at) >= since)
    firings = list(session.exec(query.limit(limit)).all())
    ids = [f.id for f in firings if f.id is not None]
    events: dict[int, list[AlertEvent]] = {i: [] for i in ids}
    if ids:
        for event in session.exec(
            select(AlertEvent).where(col(AlertEvent.firing_id).in_(ids)).order_by(col(AlertEvent.id))
        ):
            if event.firing_id is not None:
                events[event.firing_id].append(event)
    return [(f, events.get(f.id or -1, [])) for f in firings]


def stamp(moment: datetime, attempt: int) -> str:
    return f"{moment.isoformat()} attempt {attempt}: "


def error_text(error: str | None) -> str:
    """A stored delivery error without its stamp: what a reader needs."""
    text = error or ""
    found = ATTEMPT_STAMP.match(text)
    return text[found.end() :] if found is not None else text


def _thread_list(thread_ids: Iterable[int]) -> list[int]:
    return [int(t) for t in dict.fromkeys(t for t in thread_ids if t is not None)][:MAX_THREADS]
