"""Replies go through an outbox: written first, sent after, so a crash, a retry or a second sender never posts
twice.

A reply moves queued -> sending -> sent (or failed). Before the network call a sender *claims* the reply: one
conditional UPDATE (`WHERE status = <as read> AND attempts = <as read>`), committed, whose row count says whether
it won. Two desks, or a desk and `earful serve`, race for every row on SQLite and PostgreSQL alike, and exactly
one of them sends it. The claim records who holds it (`claimed_by`: machine, process) and since when.

A reply found in "sending" belongs to its claimer until that claimer is gone: on this machine, once its process
no longer runs (a SIGKILL, a crash); from another machine, once the lease (`lease_seconds`) has run out. Then
the next sender takes it over with the same conditional UPDATE.

Every attempt after the first starts by asking the network whether the reply is already there (the network took
it and earful died before recording that, or its answer was lost to a timeout), by the account that posted it:
the claim records the sender's own login (`sent_as`), which need not be the brand's first listed account. A
refusal as a duplicate (X) is a sign the reply is there, so it is looked for too, and marked sent when found.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session, col, select

from responders.templates import unfilled
from store import Store
from store.clock import as_utc, utcnow
from store.models import Mention, Reply, ReplyStatus, Thread
from store.reply_length import LIMITS, reply_length
from store.threads import apply_outbound

log = logging.getLogger(__name__)

# What each network accepts in one post, counted as that network counts (store.reply_length).
LENGTH_LIMITS = LIMITS
# Longer than any send and look can take (each network call gives up after its timeout, 30 s by default), so a
# live sender on another machine never loses its claim mid-send.
LEASE_SECONDS = 300.0


class Sender(Protocol):
    def send_reply(self, text: str, in_reply_to_native_id: str) -> str: ...

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None: ...

    def account(self) -> str | None: ...


class ReplyRejected(ValueError):
    """The reply cannot be queued as written; the message says what to change."""


def queue_reply(
    thread_id: int,
    text: str,
    *,
    responder: str,
    session: Session,
    template: str | None = None,
    address: Callable[[Thread, Mention, str], str] | None = None,
) -> Reply:
    """Queue `text` as the reply to the thread's newest customer message. `address` turns it into the text as
    posted (the @mentions a network needs to notify anyone); what is checked and stored is that text."""
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    text = text.strip()
    if not text:
        raise ReplyRejected("the reply is empty")
    blanks = unfilled(text)
    if blanks:
        # A saved reply's {variable} the thread could not fill would reach the customer as written.
        raise ReplyRejected(f"fill in {', '.join('{' + b + '}' for b in blanks)} first; nothing was sent")
    target = latest_inbound(thread_id, session=session)
    if target is None or target.id is None:
        raise ReplyRejected("this thread has no customer message to answer")
    if address is not None:
        text = address(thread, target, text)
    refused = reply_length(thread.network, text).refused
    if refused:
        raise ReplyRejected(refused)
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


def latest_inbound(thread_id: int, *, session: Session) -> Mention | None:
    """The customer message a reply answers: the thread's newest."""
    return session.exec(
        select(Mention)
        .where(Mention.thread_id == thread_id, Mention.is_own == False)  # noqa: E712
        .order_by(col(Mention.created_at).desc(), col(Mention.id).desc())
    ).first()


class Outbox:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        *,
        own_handle: Callable[[Thread], str | None] = lambda _thread: None,
        max_attempts: int = 5,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.senders = senders
        # The brand's listed account: looked for only when the sender cannot say whom it posts as.
        self.own_handle = own_handle
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds

    def flush(self, reply_ids: list[int] | None = None) -> list[Reply]:
        """Send every queued reply (or just these), and settle any a stopped sender left in "sending". Returns
        the replies this call settled or tried; those another sender holds are its own to report."""
        with self.store.read() as session:
            query = select(Reply.id).where(col(Reply.status).in_([ReplyStatus.QUEUED, ReplyStatus.SENDING]))
            if reply_ids is not None:
                query = query.where(col(Reply.id).in_(reply_ids))
            ids = [i for i in session.exec(query.order_by(col(Reply.id))) if i is not None]
        return [reply for reply_id in ids if (reply := self._send_one(reply_id)) is not None]

    def left_queued(self) -> int:
        """How many replies wait to be sent (queued, or held by a sender)."""
        with self.store.read() as session:
            return len(
                session.exec(
                    select(Reply.id).where(col(Reply.status).in_([ReplyStatus.QUEUED, ReplyStatus.SENDING]))
                ).all()
            )

    def _send_one(self, reply_id: int) -> Reply | None:
        with _in_flight(self.store.url, reply_id) as ours:
            if not ours:
                return None  # another thread of this process is on it
            with self.store.read() as session:
                reply, thread, target = _load(reply_id, session)
            taking_over = reply.status == ReplyStatus.SENDING
            if reply.status not in (ReplyStatus.QUEUED, ReplyStatus.SENDING):
                return None
            if taking_over and not self._abandoned(reply):
                return None
            sender = self.senders.get(thread.network)
            if sender is None:
                error = f"no sender configured for {thread.network}"
                return self._swap(reply, status=ReplyStatus.FAILED, error=error)
            account = _account_of(sender)
            claimed = self._swap(
                reply,
                status=ReplyStatus.SENDING,
                attempts=reply.attempts + 1,
                claimed_by=claimant(),
                claimed_at=utcnow(),
                sent_as=reply.sent_as or account,
            )
            if claimed is None:
                return None  # another sender won this one
            return self._deliver(claimed, thread, target, sender, account, look=taking_over)

    def _deliver(
        self,
        reply: Reply,
        thread: Thread,
        target: Mention,
        sender: Sender,
        account: str | None,
        *,
        look: bool,
    ) -> Reply:
        accounts = _unique([reply.sent_as, account, self.own_handle(thread)])
        if look or reply.attempts > 1:
            # An earlier attempt may have reached the network: look before posting again.
            try:
                found = _look(sender, target.native_id, reply.text, accounts)
            except Exception as exc:  # the network is unsure: try again later, never guess
                return self._release(reply, f"could not check for an earlier post: {exc}", unsure=True)
            if found:
                return self._mark_sent(reply, found)
            if account and reply.sent_as != account:
                reply = self._note_account(reply, account)
        try:
            native_id = sender.send_reply(reply.text, target.native_id)
        except Exception as exc:
            if not getattr(exc, "duplicate", False):
                log.warning("reply %s not sent (attempt %s): %s", reply.id, reply.attempts, exc)
                return self._release(reply, str(exc))
            # The network has this text from us already: most likely this very reply, from an earlier attempt.
            try:
                found = _look(sender, target.native_id, reply.text, [*accounts, None])
            except Exception as look_error:
                why = f"{exc}; could not check for the earlier post: {look_error}"
                return self._release(reply, why, unsure=True)
            if found:
                return self._mark_sent(reply, found)
            return self._release(reply, f"{exc}; no earlier reply with this text to this post was found")
        return self._mark_sent(reply, native_id)

    def _abandoned(self, reply: Reply) -> bool:
        """Whether the sender holding `reply` is gone, so another may take it over."""
        if not reply.claimed_by or reply.claimed_at is None:
            return True  # claimed before claims were recorded
        if utcnow() - as_utc(reply.claimed_at) >= timedelta(seconds=self.lease_seconds):
            return True
        machine, _, token = reply.claimed_by.rpartition("|")
        machine, _, pid_text = machine.rpartition("|")
        if machine != MACHINE or not pid_text.isdigit():
            return False  # another machine: only the lease can tell
        if token == _process_token():
            return True  # ours, and no thread of ours is sending it (we hold it in _IN_FLIGHT): left over
        pid = int(pid_text)
        return pid == os.getpid() or not _running(pid)

    def _swap(self, reply: Reply, **values: Any) -> Reply | None:
        """Set `values` on `reply` if no other sender has changed it since it was read; the updated reply, or
        None if another got there first."""
        with self.store.write() as session:
            result = session.exec(
                update(Reply)
                .where(
                    col(Reply.id) == reply.id,
                    col(Reply.status) == reply.status,
                    col(Reply.attempts) == reply.attempts,
                )
                .values(**values)
            )
            if result.rowcount != 1:
                return None
            return session.get(Reply, reply.id)

    def _held(self, reply: Reply, session: Session, **values: Any) -> bool:
        """Set `values` on `reply` if this process still holds its claim."""
        result = session.exec(
            update(Reply)
            .where(
                col(Reply.id) == reply.id,
                col(Reply.status) == ReplyStatus.SENDING,
                col(Reply.claimed_by) == claimant(),
                col(Reply.attempts) == reply.attempts,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            log.warning("reply %s was taken over by another sender while this one held it", reply.id)
            return False
        return True

    def _mark_sent(self, reply: Reply, native_id: str) -> Reply:
        now = utcnow()
        with self.store.write() as session:
            values = {"status": ReplyStatus.SENT, "native_id": native_id, "sent_at": now, "error": None}
            if self._held(reply, session, **values):
                thread = session.get(Thread, reply.thread_id)
                if thread is not None:
                    apply_outbound(thread, at=now)
                    session.add(thread)
            return _fresh(reply, session)

    def _release(self, reply: Reply, error: str, *, unsure: bool = False) -> Reply:
        """Give the reply back: queued for the next attempt, or failed once it has had them all. One that may
        be on the network already (`unsure`) is never called failed: someone would write it again."""
        spent = reply.attempts >= self.max_attempts and not unsure
        status = ReplyStatus.FAILED if spent else ReplyStatus.QUEUED
        with self.store.write() as session:
            self._held(reply, session, status=status, error=error[:2000], claimed_at=None)
            return _fresh(reply, session)

    def _note_account(self, reply: Reply, account: str) -> Reply:
        """The reply is about to go out as `account`, not as the one an earlier attempt used."""
        with self.store.write() as session:
            self._held(reply, session, sent_as=account)
            return _fresh(reply, session)


def _load(reply_id: int, session: Session) -> tuple[Reply, Thread, Mention]:
    reply = session.get(Reply, reply_id)
    assert reply is not None
    thread = session.get(Thread, reply.thread_id)
    target = session.get(Mention, reply.in_reply_to_id)
    assert thread is not None and target is not None
    return reply, thread, target


def _fresh(reply: Reply, session: Session) -> Reply:
    """The row as the UPDATEs above left it (the session may hold an older copy)."""
    session.flush()
    session.expire_all()
    row = session.get(Reply, reply.id)
    assert row is not None
    return row


def _account_of(sender: Sender) -> str | None:
    try:
        account = sender.account()
    except Exception as exc:  # a sender that cannot say is looked up by the brand's listed account instead
        log.info("the %s sender could not say whom it posts as: %s", type(sender).__name__, exc)
        return None
    return account.lstrip("@") if account else None


def _look(sender: Sender, native_id: str, text: str, accounts: list[str | None]) -> str | None:
    """The reply posted by any of `accounts` (None: by anyone), or None; an empty list looks by anyone."""
    for account in accounts or [None]:
        found = sender.find_reply(native_id, text, account)
        if found:
            return found
    return None


def _unique(accounts: list[str | None]) -> list[str | None]:
    seen: dict[str, str | None] = {}
    for account in accounts:
        if account:
            seen.setdefault(account.lstrip("@").casefold(), account.lstrip("@"))
    return list(seen.values())


# -- who holds a claim ---------------------------------------------------------------------------------------


def _machine() -> str:
    """This machine, as far as process ids mean anything: host name, boot and pid namespace (two containers
    sharing a host name do not share their process ids)."""
    parts = [socket.gethostname()[:100]]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8])
        parts.append(os.readlink("/proc/self/ns/pid").removeprefix("pid:[").rstrip("]"))
    except OSError:
        pass
    return "/".join(parts)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has stopped for good; only its parent has not noticed yet
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


MACHINE = _machine()
_token: tuple[int, str] = (0, "")
# Replies this process is working on (by store URL and id): one thread at a time per reply.
_IN_FLIGHT: set[tuple[str, int]] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def _process_token() -> str:
    """A token for this process, new in a forked child (which inherits the parent's memory)."""
    global _token
    if _token[0] != os.getpid():
        _token = (os.getpid(), uuid.uuid4().hex[:12])
    return _token[1]


def claimant() -> str:
    """Who claims a reply: this machine, this process id, and this process's token (a later process that
    happens to get the same pid is not this one)."""
    return f"{MACHINE}|{os.getpid()}|{_process_token()}"


@contextmanager
def _in_flight(url: str, reply_id: int) -> Iterator[bool]:
    key = (url, reply_id)
    with _IN_FLIGHT_LOCK:
        ours = key not in _IN_FLIGHT
        _IN_FLIGHT.add(key)
    try:
        yield ours
    finally:
        if ours:
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.discard(key)
