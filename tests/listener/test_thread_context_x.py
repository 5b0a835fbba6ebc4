"""X: a thread starts where the conversation did. The customer's first tweet names no brand term, the brand
answers it, the customer's reply names the brand: the stream carries the last two, and the collector fetches
the first by tweet lookup (real tweepy against the sandbox), without a cursor, without blocking the stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from context_testkit import (
    Desk,
    assert_cursor_rule,
    later,
    messages,
    stored_once,
    thread_of,
    wait_stored,
)
from x_testkit import FAST, StoreSink, wait_for, x_settings

from listener.config import BrandSettings
from listener.sandbox.x import XSandboxThread
from listener.x import build_sources

ACME = BrandSettings(name="acme", accounts={"x": ["AcmeHelp"]}, networks=["x"])


@pytest.fixture
def desk(store_sink: StoreSink) -> Iterator[Callable[[XSandboxThread], Desk]]:
    started: list[Desk] = []

    def start(server: XSandboxThread) -> Desk:
        sources = build_sources(x_settings(server.base_url), [ACME], policy=FAST)
        running = Desk(sources, store_sink)
        started.append(running)
        wait_for(lambda: "streaming" in running.states("x:stream"), what="the stream live")
        return running

    yield start
    for running in started:
        running.stop()


def _lookups(server: XSandboxThread) -> list[dict[str, Any]]:
    return [r for r in server.sandbox.requests if r["method"] == "GET" and r["path"] == "/2/tweets"]


def test_the_thread_starts_with_the_customers_first_tweet(
    sandbox_factory: Callable[..., XSandboxThread],
    desk: Callable[[XSandboxThread], Desk],
    store_sink: StoreSink,
) -> None:
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    desk(server)
    x = server.sandbox
    first = x.push("my order never arrived, order 1234", author="jane_doe")
    later()
    answer = x.push(
        "Sorry to hear that! Could you DM us the order number?", author="AcmeHelp", in_reply_to=first.id
    )
    later()
    again = x.push("@AcmeHelp I did, still nothing", author="jane_doe", in_reply_to=answer.id)

    wait_stored(store_sink, [first.id, answer.id, again.id])
    thread = messages(store_sink, first.id)
    assert [(m.native_id, m.is_own) for m in thread] == [
        (first.id, False),
        (answer.id, True),
        (again.id, False),
    ]
    assert thread[0].text == "my order never arrived, order 1234"
    stored_once(store_sink)
    # One lookup, for the first tweet: the answer's parent was asked once, the reply's parent was streamed.
    assert [r["query"]["ids"] for r in _lookups(server)] == [first.id]
    assert_cursor_rule(store_sink, {first.id})
    # The thread's clocks are the conversation's: first contact at the first tweet, answered by the brand's
    # reply (so "open", not a first contact), and waiting since the customer's second tweet.
    row = thread_of(store_sink, first.id)
    assert row.status == "open"
    assert row.first_inbound_at == first.created_at
    assert row.first_response_at == answer.created_at
    assert row.awaiting_since == again.created_at


def test_a_restart_asks_nothing_the_store_has(
    sandbox_factory: Callable[..., XSandboxThread],
    desk: Callable[[XSandboxThread], Desk],
    store_sink: StoreSink,
) -> None:
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    x = server.sandbox
    first = x.push("my order never arrived, order 1234", author="jane_doe")
    later()
    answer = x.push("Sorry to hear that! Which order?", author="AcmeHelp", in_reply_to=first.id)
    later()
    again = x.push("@AcmeHelp 1234, still nothing", author="jane_doe", in_reply_to=answer.id)
    running = desk(server)  # its first backfill finds the answer and the reply
    wait_stored(store_sink, [first.id, answer.id, again.id])
    running.stop()
    assert len(_lookups(server)) == 1

    # A new process: nothing delivered lately, the backfill hands the two over again; their parents are stored.
    again_running = desk(server)
    fetcher = again_running.supervisor.runners[0].context_fetcher
    assert fetcher is not None
    wait_for(lambda: fetcher.walked >= 1, what="the walk above the answer, handed over again")
    assert len(_lookups(server)) == 1
    stored_once(store_sink)


def test_a_deleted_parent_leaves_the_mention_stored_and_says_so_once(
    sandbox_factory: Callable[..., XSandboxThread],
    desk: Callable[[XSandboxThread], Desk],
    store_sink: StoreSink,
) -> None:
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    running = desk(server)
    x = server.sandbox
    first = x.push("my order never arrived", author="jane_doe")
    x.delete(first.id)
    later()
    answer = x.push("Sorry! Which order?", author="AcmeHelp", in_reply_to=first.id)
    later()
    again = x.push("@AcmeHelp order 1234", author="jane_doe", in_reply_to=answer.id)

    wait_stored(store_sink, [answer.id, again.id])
    wait_for(lambda: running.notes(first.id), what="a health note about the deleted tweet")
    assert first.id not in store_sink.native_ids(context=True)
    notes = running.notes(first.id)
    assert len(notes) == 1 and "deleted" in notes[0].detail
    assert notes[0].state == "streaming", "a deleted parent is a note, not a failing stream"
    # Another reply in the same conversation does not ask again for what is known to be gone.
    later()
    more = x.push("@AcmeHelp hello?", author="jane_doe", in_reply_to=again.id)
    wait_stored(store_sink, [more.id])
    assert len(_lookups(server)) == 1
    assert len(running.notes(first.id)) == 1


def test_lookups_wait_for_the_rate_limit_and_the_stream_goes_on(
    sandbox_factory: Callable[..., XSandboxThread],
    desk: Callable[[XSandboxThread], Desk],
    store_sink: StoreSink,
) -> None:
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    running = desk(server)
    x = server.sandbox
    # No lookup left in this window, which ends in about 3 s; one call per window after it.
    x.set_rate_limit("lookup", 0, limit=1, window=3.0)
    first = x.push("my order never arrived", author="jane_doe")
    later()
    answer = x.push("Sorry! Which order?", author="AcmeHelp", in_reply_to=first.id)
    wait_for(lambda: running.notes("rate limit"), what="the wait for the lookup budget")

    # Meanwhile the stream is not held up: a new conversation's tweet is stored at once.
    other = x.push("@AcmeHelp my parcel is late", author="sam_o")
    wait_stored(store_sink, [answer.id, other.id])
    assert first.id not in store_sink.native_ids(context=True)

    wait_stored(store_sink, [first.id])
    statuses = [r["status"] for r in _lookups(server)]
    assert statuses == [429, 200], "the rate-limited lookup was retried once, after the reset"
    assert "rate-limited" not in running.states("x:stream")
    assert [m.native_id for m in messages(store_sink, first.id)] == [first.id, answer.id]
