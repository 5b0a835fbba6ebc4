"""Pages of a view in the inbox order (most urgent, then the nearest SLA, then the longest waiting, then the
oldest thread), by keyset: a page starts after (or ends before) the place of a row already shown, so any page of
any view over any number of threads is one indexed read, and rows arriving meanwhile never shift a page.

Sorting every awaiting thread costs a table lookup each (most of the time at 100,000 threads), so a page first
reads, from the (status, urgency) index alone, the urgency its last row can have at most or least: the page is
then sorted from little more than itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, false, nulls_first, nulls_last, or_, true
from sqlmodel import Session, col, select

from store.models import Thread, ThreadStatus


@dataclass(frozen=True)
class InboxKey:
    """Where a row sits in the inbox order: its sort fields, as read with it."""

    urgency: int
    sla_due_at: datetime | None
    awaiting_since: datetime | None
    thread_id: int


# The statuses a view's threads can have, for views that hold most threads of those statuses.
FLOOR_STATUSES = {
    "inbox": (ThreadStatus.NEW, ThreadStatus.OPEN),
    "urgent": (ThreadStatus.NEW, ThreadStatus.OPEN),
    "unassigned": (ThreadStatus.NEW, ThreadStatus.OPEN),
    "pending": (ThreadStatus.PENDING,),
    "resolved": (ThreadStatus.RESOLVED,),
}


def order(*, backwards: bool = False) -> list[Any]:
    if backwards:
        return [
            col(Thread.urgency).asc(),
            nulls_first(col(Thread.sla_due_at).desc()),
            nulls_first(col(Thread.awaiting_since).desc()),
            col(Thread.id).desc(),
        ]
    return [
        col(Thread.urgency).desc(),
        nulls_last(col(Thread.sla_due_at).asc()),
        nulls_last(col(Thread.awaiting_since).asc()),
        col(Thread.id).asc(),
    ]


def beyond(key: InboxKey, *, backwards: bool = False) -> ColumnElement[bool]:
    """Rows after `key` in the inbox order (before it, backwards)."""
    tie: ColumnElement[bool] = col(Thread.id) < key.thread_id if backwards else col(Thread.id) > key.thread_id
    for column, value in ((Thread.awaiting_since, key.awaiting_since), (Thread.sla_due_at, key.sla_due_at)):
        tie = or_(_later(col(column), value, backwards), and_(_same(col(column), value), tie))
    urgency = col(Thread.urgency)
    further = urgency > key.urgency if backwards else urgency < key.urgency
    return or_(further, and_(urgency == key.urgency, tie))


def _later(column: Any, value: datetime | None, backwards: bool) -> ColumnElement[bool]:
    """Strictly after `value` in an ascending order that puts NULL last (strictly before, backwards)."""
    if backwards:
        return column.is_not(None) if value is None else column < value
    return false() if value is None else or_(column > value, column.is_(None))


def _same(column: Any, value: datetime | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def page_ids(
    conditions: Sequence[Any],
    *,
    view: str,
    limit: int,
    filtered: bool,
    after: InboxKey | None = None,
    before: InboxKey | None = None,
    last: bool = False,
    session: Session,
) -> list[int]:
    """The ids of one page in the inbox order: the first `limit` rows (after `after`), or the last `limit`
    rows (before `before`, or of the whole view with `last`)."""
    backwards = before is not None or last
    key = before if backwards else after
    conditions = list(conditions)
    if key is not None:
        conditions.append(beyond(key, backwards=backwards))
    # A filter's rows are not the index's: its page is sorted from whatever matches.
    bound = None if filtered else _urgency_bound(view, limit, key, backwards, session=session)
    ids = _ids(conditions, bound, limit, backwards, session=session)
    if bound is not None and len(ids) < limit:
        ids = _ids(conditions, None, limit, backwards, session=session)  # snoozed threads took the places
    return ids[::-1] if backwards else ids


def _urgency_bound(
    view: str, limit: int, key: InboxKey | None, backwards: bool, *, session: Session
) -> int | None:
    """The urgency of the limit-th thread of the view's statuses beyond the key's urgency, from the index alone:
    every row of the page has at least (backwards: at most) that urgency. None when fewer are left."""
    statuses = FLOOR_STATUSES.get(view)
    if statuses is None or limit < 1:
        return None
    urgency = col(Thread.urgency)
    query = select(Thread.urgency).where(col(Thread.status).in_(list(statuses)))
    if key is not None:
        query = query.where(urgency > key.urgency if backwards else urgency < key.urgency)
    query = query.order_by(urgency.asc() if backwards else urgency.desc()).offset(limit - 1).limit(1)
    return session.exec(query).first()


def _ids(
    conditions: list[Any], bound: int | None, limit: int, backwards: bool, *, session: Session
) -> list[int]:
    if bound is not None:
        urgency = col(Thread.urgency)
        conditions = [*conditions, urgency <= bound if backwards else urgency >= bound]
    query = select(Thread.id).where(true(), *conditions).order_by(*order(backwards=backwards)).limit(limit)
    return cast(list[int], session.exec(query).all())
