"""What a responder may do with a reply that did not go out: send it again, or take it back.

Both are one conditional UPDATE on the reply's status, like every move of the outbox (responders/outbox.py), so
they never touch a reply a sender holds: one in "sending" may be on the network already, and only its sender
(or the one that takes it over) may settle it. A failed reply is never on the network (the outbox calls a reply
failed only once it is sure of that), so it may be cancelled; a queued one too, as long as no sender has claimed
it first and no attempt has been made (after one, it may be on the network: the next attempt looks for it
first). A retried reply keeps its attempts: its next one starts by looking for an earlier post, as every attempt
after the first does, so a retry never posts twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col

from store.models import Reply, ReplyStatus


class ReplyNotChangeable(ValueError):
    """The reply is not in a state this action applies to; the message says what it is doing instead."""


_DOING = {
    ReplyStatus.SENDING: "it is being sent right now; wait for the outcome",
    ReplyStatus.SENT: "it was sent already",
    ReplyStatus.CANCELLED: "it was cancelled already",
    ReplyStatus.QUEUED: "it is queued and will be sent on the next try",
    ReplyStatus.FAILED: "it failed; retry or cancel it",
}


def _move(reply_id: int, allowed: Any, values: dict[str, object], *, session: Session) -> Reply:
    reply = session.get(Reply, reply_id)
    if reply is None:
        raise LookupError(f"no reply {reply_id}")
    result = session.exec(
        update(Reply)
        .where(col(Reply.id) == reply_id, allowed)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(reply)
    if result.rowcount != 1:
        if reply.status == ReplyStatus.QUEUED and reply.attempts:
            raise ReplyNotChangeable(
                "an earlier attempt may have reached the network; it is checked on the next try"
            )
        raise ReplyNotChangeable(_DOING.get(ReplyStatus(reply.status), f"it is {reply.status}"))
    return reply


def retry_reply(reply_id: int, *, session: Session) -> Reply:
    """Queue a failed reply again, or leave a queued one queued (the caller then flushes the outbox)."""
    return _move(
        reply_id,
        col(Reply.status).in_([ReplyStatus.FAILED, ReplyStatus.QUEUED]),
        {"status": ReplyStatus.QUEUED},
        session=session,
    )


def cancel_reply(reply_id: int, *, session: Session) -> Reply:
    """Take back a failed or still queued reply: it will never be sent."""
    untried = and_(col(Reply.status) == ReplyStatus.QUEUED, col(Reply.attempts) == 0)
    return _move(
        reply_id,
        or_(col(Reply.status) == ReplyStatus.FAILED, untried),
        {"status": ReplyStatus.CANCELLED, "claimed_at": None},
        session=session,
    )
