"""Replies go through an outbox: written first, sent after, so a crash or a retry never posts twice.

A reply moves queued -> sending -> sent (or failed). "sending" is committed *before* the network call. If earful
dies after the network accepted the post but before "sent" is committed, the reply is found in "sending" on the
next run, and the sender is asked whether the post already exists before anything is posted again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

from sqlmodel import Session, col, select

from store import Store
from store.clock import utcnow
from store.models import Mention, Reply, ReplyStatus, Thread
from store.threads import apply_outbound

log = logging.getLogger(__name__)

# What each network accepts in one post (characters as the network counts them, near enough for a warning).
LENGTH_LIMITS = {"x": 280, "mastodon": 500, "bluesky": 300, "reddit": 10_000}


class Sender(Protocol):
    def send_reply(self, text: str, in_reply_to_native_id: str) -> str: ...

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None: ...


class ReplyRejected(ValueError):
    """The reply cannot be queued as written; the message says what to change."""


def queue_reply(
    thread_id: int, text: str, *, responder: str, session: Session, template: str | None = None
) -> Reply:
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    text = text.strip()
    if not text:
        raise ReplyRejected("the reply is empty")
    limit = LENGTH_LIMITS.get(thread.network)
    if limit is not None and len(text) > limit:
        raise ReplyRejected(f"{len(text)} characters; {thread.network} takes at most {limit}")
    target = session.exec(
        select(Mention)
        .where(Mention.thread_id == thread_id, Mention.is_own == False)  # noqa: E712
        .order_by(col(Mention.created_at).desc(), col(Mention.id).desc())
    ).first()
    if target is None or target.id is None:
        raise ReplyRejected("this thread has no customer message to answer")
    reply = Reply(
        thread_id=thread_id,
        in_reply_to_id=target.id,
        responder=responder,
        text=text,
        template=template,
        idempotency_key=uuid.uuid4().hex,
    )
    session.add(reply)
    session.flush()
    return reply


class Outbox:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        *,
        own_handle: Callable[[Thread], str | None] = lambda _thread: None,
        max_attempts: int = 5,
    ) -> None:
        self.store = store
        self.senders = senders
        self.own_handle = own_handle
        self.max_attempts = max_attempts

    def flush(self, reply_ids: list[int] | None = None) -> list[Reply]:
        """Send every queued reply (or just these), and settle any left in "sending" by an earlier crash."""
        with self.store.read() as session:
            query = select(Reply.id).where(col(Reply.status).in_([ReplyStatus.QUEUED, ReplyStatus.SENDING]))
            if reply_ids is not None:
                query = query.where(col(Reply.id).in_(reply_ids))
            ids = [i for i in session.exec(query.order_by(col(Reply.id))) if i is not None]
        return [self._send_one(reply_id) for reply_id in ids]

    def _send_one(self, reply_id: int) -> Reply:
        with self.store.write() as session:
            reply, thread, target = self._load(reply_id, session)
            sender = self.senders.get(thread.network)
            if sender is None:
                reply.status, reply.error = ReplyStatus.FAILED, f"no sender configured for {thread.network}"
                session.add(reply)
                return reply
            if reply.status == ReplyStatus.SENDING:
                # An earlier attempt may have reached the network: look before posting again.
                try:
                    found = sender.find_reply(target.native_id, reply.text, self.own_handle(thread))
                except Exception as exc:  # the network is unsure: try again later, never guess
                    reply.error = f"could not check for an earlier post: {exc}"
                    session.add(reply)
                    return reply
                if found:
                    self._mark_sent(reply, thread, found, session)
                    return reply
            reply.status = ReplyStatus.SENDING
            reply.attempts += 1
            session.add(reply)

        try:
            native_id = sender.send_reply(reply.text, target.native_id)
        except Exception as exc:
            with self.store.write() as session:
                reply, _, _ = self._load(reply_id, session)
                reply.error = str(exc)
                reply.status = (
                    ReplyStatus.FAILED if reply.attempts >= self.max_attempts else ReplyStatus.QUEUED
                )
                session.add(reply)
            log.warning("reply %s not sent (attempt %s): %s", reply_id, reply.attempts, exc)
            return reply

        with self.store.write() as session:
            reply, thread, _ = self._load(reply_id, session)
            self._mark_sent(reply, thread, native_id, session)
        return reply

    @staticmethod
    def _load(reply_id: int, session: Session) -> tuple[Reply, Thread, Mention]:
        reply = session.get(Reply, reply_id)
        assert reply is not None
        thread = session.get(Thread, reply.thread_id)
        target = session.get(Mention, reply.in_reply_to_id)
        assert thread is not None and target is not None
        return reply, thread, target

    @staticmethod
    def _mark_sent(reply: Reply, thread: Thread, native_id: str, session: Session) -> None:
        now = utcnow()
        reply.status, reply.native_id, reply.sent_at, reply.error = ReplyStatus.SENT, native_id, now, None
        apply_outbound(thread, at=now)
        session.add(reply)
        session.add(thread)
