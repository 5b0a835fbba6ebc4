"""The outbox: a reply reaches the network exactly once, whatever happens to earful in between."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from listener.sandbox.x import XSandbox, XSandboxThread, sandbox_settings
from listener.x_sender import XSender
from responders.outbox import Outbox, ReplyRejected, queue_reply
from store.mentions import save_mentions
from store.models import Reply, Thread


class Crash(BaseException):
    """Stands for the process dying: not an error the outbox may catch."""


class CrashAfterPosting:
    """The real sender; the process 'dies' right after the network accepted the post."""

    def __init__(self, sender: XSender) -> None:
        self.sender = sender

    def send_reply(self, text: str, in_reply_to_native_id: str) -> str:
        self.sender.send_reply(text, in_reply_to_native_id)
        raise Crash

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None:
        return self.sender.find_reply(in_reply_to_native_id, text, own_handle)

    def account(self) -> str | None:
        return self.sender.account()


@pytest.fixture
def sandbox() -> Iterator[XSandbox]:
    server = XSandboxThread(replay=False, keepalive=0.2, account="AcmeSupport")
    server.start()
    yield server.sandbox
    server.stop()


@pytest.fixture
def sender(sandbox) -> XSender:
    return XSender(sandbox_settings(sandbox.base_url))


@pytest.fixture
def complaint(any_store, sandbox, make_mention) -> tuple[int, str]:
    tweet = sandbox.push("@AcmeSupport where is my refund?", author="jane")
    with any_store.write() as s:
        result = save_mentions([make_mention(tweet.id, conversation=tweet.conversation_id)], session=s)
    return result.stored[0].thread_id, tweet.id


def test_a_reply_is_posted_in_reply_to_the_customer(any_store, sandbox, sender, complaint):
    thread_id, tweet_id = complaint
    with any_store.write() as s:
        queue_reply(thread_id, "Sorry Jane, refund on its way", responder="alice", session=s)
    [reply] = Outbox(any_store, {"x": sender}).flush()
    assert reply.status == "sent"
    [posted] = sandbox.replies
    assert (posted.in_reply_to_id, posted.text, posted.id) == (
        tweet_id,
        "Sorry Jane, refund on its way",
        reply.native_id,
    )
    with any_store.read() as s:
        assert s.get(Thread, thread_id).first_response_at is not None


def test_a_crash_after_posting_never_posts_twice(any_store, sandbox, sender, complaint):
    thread_id, tweet_id = complaint
    with any_store.write() as s:
        queue_reply(thread_id, "Sorry Jane, refund on its way", responder="alice", session=s)

    with pytest.raises(Crash):
        Outbox(any_store, {"x": CrashAfterPosting(sender)}, own_handle=lambda _t: "AcmeSupport").flush()
    with any_store.read() as s:
        assert s.exec(select(Reply)).one().status == "sending"
    assert len(sandbox.replies) == 1

    # earful restarts and settles its outbox: it finds the post instead of posting again.
    [reply] = Outbox(any_store, {"x": sender}, own_handle=lambda _t: "AcmeSupport").flush()
    assert reply.status == "sent" and reply.native_id == sandbox.replies[0].id
    assert len(sandbox.replies) == 1
    assert Outbox(any_store, {"x": sender}).flush() == []


def test_a_crash_before_posting_posts_once_on_retry(any_store, sandbox, sender, complaint):
    thread_id, _ = complaint
    with any_store.write() as s:
        reply = queue_reply(thread_id, "On it!", responder="alice", session=s)
        reply.status = "sending"  # the state a crash leaves between "sending" and the network call
    [reply] = Outbox(any_store, {"x": sender}, own_handle=lambda _t: "AcmeSupport").flush()
    assert reply.status == "sent"
    assert [r.text for r in sandbox.replies] == ["On it!"]


def test_a_network_refusal_keeps_the_reply_queued_with_the_reason(any_store, sandbox, sender, complaint):
    thread_id, _ = complaint
    with any_store.write() as s:
        queue_reply(thread_id, "Hello", responder="alice", session=s)
    sandbox.set_rate_limit("tweets", 0)
    [reply] = Outbox(any_store, {"x": sender}).flush()
    assert reply.status == "queued" and reply.error and "429" in reply.error
    assert sandbox.replies == []


def test_replies_the_network_cannot_take_are_refused_before_queueing(any_store, complaint):
    thread_id, _ = complaint
    with pytest.raises(ReplyRejected, match="280"), any_store.write() as s:
        queue_reply(thread_id, "x" * 281, responder="alice", session=s)
    with pytest.raises(ReplyRejected, match="empty"), any_store.write() as s:
        queue_reply(thread_id, "   ", responder="alice", session=s)


def test_a_reply_with_a_blank_or_too_long_for_x_is_refused_before_queueing(any_store, complaint):
    thread_id, _ = complaint
    with pytest.raises(ReplyRejected, match=r"fill in \{order\} first"), any_store.write() as s:
        queue_reply(thread_id, "Refund for order {order} started", responder="alice", session=s)
    # 141 CJK characters are 282 of X's weighted 280.
    with pytest.raises(ReplyRejected, match="282 weighted characters"), any_store.write() as s:
        queue_reply(thread_id, "返" * 141, responder="alice", session=s)
    with any_store.read() as s:
        assert s.exec(select(Reply)).all() == []


def test_a_failed_reply_is_retried_once_or_cancelled_and_a_claimed_one_is_left_alone(
    any_store, sandbox, sender, complaint
):
    """retry_reply and cancel_reply move a reply only from a state no sender holds: one in "sending" belongs to
    its sender (it may be on the network), and one tried already may be there too."""
    from responders.reply_actions import ReplyNotChangeable, cancel_reply, retry_reply

    thread_id, _ = complaint
    outbox = Outbox(any_store, {"x": sender}, max_attempts=1, own_handle=lambda _t: "AcmeSupport")
    with any_store.write() as s:
        first = queue_reply(thread_id, "Refund started", responder="alice", session=s)
    sandbox.fail_next_calls("tweets", 503)
    [failed] = outbox.flush()
    assert failed.status == "failed" and sandbox.replies == []

    with any_store.write() as s:
        assert retry_reply(rid(failed), session=s).status == "queued"
    [sent] = outbox.flush()
    assert sent.status == "sent" and [r.text for r in sandbox.replies] == ["Refund started"]
    with pytest.raises(ReplyNotChangeable, match="sent already"), any_store.write() as s:
        cancel_reply(rid(first), session=s)

    with any_store.write() as s:
        second = queue_reply(thread_id, "And another thing", responder="alice", session=s)
        second.status = "sending"  # a sender has claimed it and is on the network right now
    for action in (retry_reply, cancel_reply):
        with pytest.raises(ReplyNotChangeable, match="being sent right now"), any_store.write() as s:
            action(rid(second), session=s)

    with any_store.write() as s:
        tried = queue_reply(thread_id, "Tried once", responder="alice", session=s)
        tried.attempts = 1  # queued again after an attempt whose outcome is unknown
    with pytest.raises(ReplyNotChangeable, match="may have reached the network"), any_store.write() as s:
        cancel_reply(rid(tried), session=s)

    with any_store.write() as s:
        untried = queue_reply(thread_id, "Never mind", responder="alice", session=s)
    with any_store.write() as s:
        assert cancel_reply(rid(untried), session=s).status == "cancelled"
    assert all(r.id != rid(untried) for r in outbox.flush([rid(untried)]))
    assert "Never mind" not in [r.text for r in sandbox.replies]


def rid(reply: Reply) -> int:
    assert reply.id is not None
    return reply.id
