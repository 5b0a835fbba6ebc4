"""Folding held deliveries into one digest per subscriber when their time comes.

`route_firing` holds a delivery (status "held", `due_at` its digest time) for a subscriber in digest mode, in
quiet hours, or over `max_per_hour`. When `due_at` passes, `fold_digests` writes ONE pending digest event listing
them and marks them "folded" into it, in one transaction: a crash leaves either all of them held or all folded
into a digest that is then sent like any alert, so nothing is folded twice or lost. An alert about a thread the
brand answered while it was held is left out ("answered", responders.answered): a digest lists only what still
needs someone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import Session, col, select

from responders.answered import drop_answered
from responders.report_model import plural
from responders.safe import one_line
from responders.subscribers import HELD, PENDING, Subscriber
from store import Store
from store.clock import as_utc
from store.models import AlertEvent, AlertFiring

if TYPE_CHECKING:  # alerts imports the delivery side, which imports this module
    from responders.alerts import AlertSettings

log = logging.getLogger(__name__)

FOLDED, FAILED = "folded", "failed"
DIGEST_RULE = "digest"
TITLE_CHARS = 300
# A digest is a list of pointers; past this many, the rest is a count and a command.
MAX_LISTED = 50

# How a firing's kind is counted in the digest's title.
_KIND_WORDS = {
    "vip": "VIP mention",
    "terms": "term match",
    "negative_reach": "negative mention with reach",
    "sla": "SLA alert",
    "volume_spike": "volume spike",
    "negative_spike": "negative spike",
    "incident": "incident",
    "silent": "silent source",
    "report": "report",
}


class _FoldedElsewhere(Exception):
    """Another process folded some of these deliveries first; this fold is rolled back."""


def fold_digests(store: Store, settings: AlertSettings, *, now: datetime) -> int:
    """Write a digest for each subscriber whose held deliveries are due; returns how many digests were made."""
    moment = as_utc(now)
    with store.read() as session:
        held = session.exec(
            select(AlertEvent).where(AlertEvent.status == HELD).order_by(col(AlertEvent.id))
        ).all()
    by_subscriber: dict[str, list[AlertEvent]] = {}
    for event in held:
        by_subscriber.setdefault(event.subscriber, []).append(event)
    due: list[tuple[Subscriber, list[AlertEvent]]] = []
    for name, events in by_subscriber.items():
        subscriber = settings.subscriber(name)
        if subscriber is None:
            _drop(store, events)
            log.warning("%d held alerts for %s dropped: no longer configured", len(events), name)
            continue
        due.append((subscriber, [e for e in events if fold_time(e, subscriber) <= moment]))
    # Only what is about to go is checked: the reply may have come while it was held.
    dropped = drop_answered(store, [e for _, events in due for e in events])
    made = 0
    for subscriber, events in due:
        ids = [e.id for e in events if e.id is not None and e.id not in dropped]
        if ids and _fold(store, subscriber, ids, moment):
            made += 1
    return made


def fold_time(event: AlertEvent, subscriber: Subscriber) -> datetime:
    """When a held delivery goes into a digest: its `due_at`, or (written without one) the subscriber's next
    digest time after it was held."""
    if event.due_at is not None:
        return as_utc(event.due_at)
    created = as_utc(event.created_at)
    return subscriber.hold_until(created, over_cap=True) or created


def next_fold_at(store: Store) -> datetime | None:
    """The earliest `due_at` of a held delivery: when the deliverer should next look for a digest to fold."""
    with store.read() as session:
        dues = session.exec(
            select(AlertEvent.due_at)
            .where(AlertEvent.status == HELD, col(AlertEvent.due_at).is_not(None))
            .order_by(col(AlertEvent.due_at))
            .limit(1)
        ).all()
    return as_utc(dues[0]) if dues and dues[0] is not None else None


def _fold(store: Store, subscriber: Subscriber, ids: list[int], moment: datetime) -> bool:
    try:
        with store.write() as session:
            # Read again inside the write: what another process folded since our look is not ours to fold.
            rows = list(
                session.exec(
                    select(AlertEvent)
                    .where(col(AlertEvent.id).in_(ids), AlertEvent.status == HELD)
                    .order_by(col(AlertEvent.id))
                ).all()
            )
            if not rows:
                return False
            title, body = digest_text(subscriber, rows, _firings(rows, session=session))
            digest = AlertEvent(
                rule=DIGEST_RULE,
                subscriber=subscriber.name,
                kind="digest",
                title=title,
                body=body,
                status=PENDING,
                due_at=moment,
                created_at=moment,
            )
            session.add(digest)
            session.flush()
            folded = session.exec(
                update(AlertEvent)
                .where(col(AlertEvent.id).in_([r.id for r in rows]), col(AlertEvent.status) == HELD)
                .values(status=FOLDED, digest_id=digest.id)
            )
            if folded.rowcount != len(rows):
                raise _FoldedElsewhere
    except _FoldedElsewhere:
        return False
    log.info("digest of %d alerts for %s", len(rows), subscriber.name)
    return True


def _drop(store: Store, events: Sequence[AlertEvent]) -> None:
    with store.write() as session:
        session.exec(
            update(AlertEvent)
            .where(col(AlertEvent.id).in_([e.id for e in events]), col(AlertEvent.status) == HELD)
            .values(status=FAILED, error="subscriber is no longer configured")
        )


def _firings(rows: Sequence[AlertEvent], *, session: Session) -> dict[int, AlertFiring]:
    ids = {r.firing_id for r in rows if r.firing_id is not None}
    if not ids:
        return {}
    found = session.exec(select(AlertFiring).where(col(AlertFiring.id).in_(ids))).all()
    return {f.id: f for f in found if f.id is not None}


def digest_text(
    subscriber: Subscriber, rows: Sequence[AlertEvent], firings: dict[int, AlertFiring]
) -> tuple[str, str]:
    """The digest's title (how many alerts, of which kinds) and its plain-text body: each alert's title, why,
    and the command that opens its thread; an incident updated while held appears once, as it stands now."""
    latest: dict[object, AlertEvent] = {}
    revisions: Counter[object] = Counter()
    for row in rows:
        key: object = row.firing_id if row.firing_id is not None else ("event", row.id)
        revisions[key] += 1
        if key not in latest or (row.revision, row.id or 0) > (latest[key].revision, latest[key].id or 0):
            latest[key] = row
    items = list(latest.items())
    kinds = Counter(_kind_word(firings.get(row.firing_id or -1)) for _, row in items)
    parts = ", ".join(plural(count, word) for word, count in kinds.most_common())
    title = one_line(f"earful digest: {plural(len(items), 'alert')} ({parts})", TITLE_CHARS)
    first = min(as_utc(r.created_at) for r in rows).astimezone(subscriber.zone)
    lines = [
        f"{plural(len(items), 'alert')} for {one_line(subscriber.name)} since "
        f"{first:%Y-%m-%d %H:%M} ({subscriber.timezone}).",
    ]
    for number, (key, row) in enumerate(items[:MAX_LISTED], start=1):
        updated = f" (updated {plural(revisions[key] - 1, 'time')} while held)" if revisions[key] > 1 else ""
        lines += ["", f"{number}. {one_line(row.title)}{updated}"]
        why = one_line(row.body.split("\n", 1)[0])
        if why and why != one_line(row.title):
            lines.append(f"   {why}")
        if row.thread_id is not None:
            lines.append(f"   Open it: earful tui --thread {row.thread_id}")
    if len(items) > MAX_LISTED:
        lines += ["", f"... and {len(items) - MAX_LISTED} more: earful alerts history"]
    return title, "\n".join(lines) + "\n"


def _kind_word(firing: AlertFiring | None) -> str:
    if firing is None:
        return "alert"
    if firing.kind == "tier":
        tier = firing.figures.get("tier") if isinstance(firing.figures, dict) else None
        return f"{one_line(str(tier), 20)} mention" if tier else "urgent mention"
    return _KIND_WORDS.get(firing.kind, one_line(firing.kind, 40).replace("_", " "))
