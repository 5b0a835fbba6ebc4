"""What a responder does to a thread: claim it, move it between statuses."""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlmodel import Session, col

from store.clock import utcnow
from store.models import Thread, ThreadStatus


class ClaimedByOther(RuntimeError):
    def __init__(self, thread_id: int, holder: str | None) -> None:
        super().__init__(f"thread {thread_id} is already claimed by {holder}")
        self.thread_id, self.holder = thread_id, holder


def claim(thread_id: int, responder: str, *, session: Session) -> Thread:
    """Assign the thread to `responder` unless someone else holds it.

    One conditional UPDATE, so two desks racing for the same thread cannot both win.
    """
    result = session.execute(
        update(Thread)
        .where(
            col(Thread.id) == thread_id,
            or_(col(Thread.assignee).is_(None), col(Thread.assignee) == responder),
        )
        .values(assignee=responder, updated_at=utcnow())
    )
    thread = session.get(Thread, thread_id, populate_existing=True)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    if getattr(result, "rowcount", 1) == 0:
        raise ClaimedByOther(thread_id, thread.assignee)
    return thread


def release(thread_id: int, responder: str, *, session: Session) -> Thread:
    session.execute(
        update(Thread)
        .where(col(Thread.id) == thread_id, col(Thread.assignee) == responder)
        .values(assignee=None, updated_at=utcnow())
    )
    thread = session.get(Thread, thread_id, populate_existing=True)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    return thread


def set_status(thread_id: int, status: str, *, session: Session) -> Thread:
    status = ThreadStatus(status)
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    thread.status = status
    thread.updated_at = utcnow()
    session.add(thread)
    return thread
