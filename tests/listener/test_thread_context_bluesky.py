"""Bluesky: a thread starts where the conversation did. The customer's first post names nothing of the brand,
the brand's account answers it, the customer replies to the brand: Jetstream and search carry the last two (by
and to the brand's account), and the collector takes the first from `app.bsky.feed.getPostThread` (real atproto
client against the sandbox)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bluesky_testkit import FAST
from context_testkit import Desk, assert_cursor_rule, later, messages, stored_once, thread_of, wait_stored
from x_testkit import StoreSink, wait_for

from listener.bluesky import JETSTREAM_SOURCE, build_sources
from listener.config import BrandSettings
from listener.sandbox.bluesky import BlueskySandboxThread, sandbox_settings

HELP = "acmehelp.bsky.social"
ACME = BrandSettings(name="acme", accounts={"bluesky": [HELP]}, networks=["bluesky"])


@pytest.fixture
def desk(store_sink: StoreSink) -> Iterator[Callable[..., Desk]]:
    started: list[Desk] = []

    def start(server: BlueskySandboxThread, **settings: Any) -> Desk:
        values: dict[str, Any] = {
            "read_timeout": 1.0,
            "rewind_seconds": 1.0,
            "poll_seconds": 0.3,
            "standby_seconds": 3600.0,
        }
        config = sandbox_settings(server.base_url, server.jetstream_url, **{**values, **settings})
        running = Desk(build_sources(config, [ACME], policy=FAST), store_sink)
        started.append(running)
        wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream live")
        return running

    yield start
    for running in started:
        running.stop()


def _threads(server: BlueskySandboxThread) -> list[dict[str, Any]]:
    return [r for r in server.sandbox.requests if str(r["path"]).endswith("app.bsky.feed.getPostThread")]


@pytest.fixture
def server(bluesky_server: Callable[..., BlueskySandboxThread]) -> BlueskySandboxThread:
    started = bluesky_server(replay=False)
    started.sandbox.account(HELP)
    return started


def test_the_thread_starts_with_the_customers_first_post(
    server: BlueskySandboxThread, desk: Callable[..., Desk], store_sink: StoreSink
) -> None:
    desk(server)
    sky = server.sandbox
    first = sky.push("my parcel never came, order 1234", author="ann")
    later()
    answer = sky.push("So sorry, Ann! Could you DM us the order number?", author=HELP, in_reply_to=first.uri)
    later()
    again = sky.push("did that hours ago, still nothing", author="ann", in_reply_to=answer.uri)

    wait_stored(store_sink, [first.uri, answer.uri, again.uri])
    thread = messages(store_sink, first.uri)
    assert [(t.native_id, t.is_own) for t in thread] == [
        (first.uri, False),
        (answer.uri, True),
        (again.uri, False),
    ]
    assert thread[0].text == "my parcel never came, order 1234"
    stored_once(store_sink)
    # One thread view, for the brand's answer: the reply's parent was heard on Jetstream.
    assert [r["query"]["uri"] for r in _threads(server)] == [answer.uri]
    assert_cursor_rule(store_sink, {first.uri})
    row = thread_of(store_sink, first.uri)
    assert (row.status, row.first_response_at, row.awaiting_since) == (
        "open",
        answer.created_at,
        again.created_at,
    )


def test_a_deleted_post_leaves_the_mention_stored_and_says_so_once(
    server: BlueskySandboxThread, desk: Callable[..., Desk], store_sink: StoreSink
) -> None:
    sky = server.sandbox
    first = sky.push("my parcel never came", author="ann")
    later()
    answer = sky.push("So sorry! Which order?", author=HELP, in_reply_to=first.uri)
    later()
    again = sky.push("order 1234", author="ann", in_reply_to=answer.uri)
    sky.delete(first.uri, from_appview=True)
    # Jetstream replays from before these posts, and the first search pass finds them too: two sources hear
    # the brand's answer, one asks for what it replies to.
    running = desk(server, rewind_seconds=60.0)

    wait_stored(store_sink, [answer.uri, again.uri])
    wait_for(lambda: running.notes(first.uri), what="a health note about the deleted post")
    notes = running.notes(first.uri)
    assert len(notes) == 1 and "deleted" in notes[0].detail
    assert first.uri not in store_sink.native_ids(context=True)
    assert [t.native_id for t in messages(store_sink, first.uri)] == [answer.uri, again.uri]


def test_a_thread_lookup_waits_for_the_rate_limit_and_the_stream_goes_on(
    server: BlueskySandboxThread, desk: Callable[..., Desk], store_sink: StoreSink
) -> None:
    running = desk(server)
    sky = server.sandbox
    # The XRPC budget is spent for about 2 s: the walk's first call is refused with 429, and made once more.
    before = len(sky.requests)
    sky.set_rate_limit(0, reset_in=2.0)
    first = sky.push("my parcel never came", author="ann")
    later()
    answer = sky.push("So sorry! Which order?", author=HELP, in_reply_to=first.uri)
    wait_for(lambda: running.notes("rate limit"), what="the wait for Bluesky's budget")

    # Meanwhile Jetstream goes on: the brand's next post (its author known, no lookup needed) is stored.
    other = sky.push("Parcels can now be tracked in the app.", author=HELP)
    wait_stored(store_sink, [answer.uri, other.uri])
    assert first.uri not in store_sink.native_ids(context=True)

    wait_stored(store_sink, [first.uri])
    calls = [(str(r["path"]).rsplit("/", 1)[-1], r["status"]) for r in sky.requests[before:]]
    assert [status for _, status in calls].count(429) == 1, calls
    assert calls[0][1] == 429 and ("app.bsky.feed.getPostThread", 200) in calls, calls
    assert "rate-limited" not in running.states(JETSTREAM_SOURCE)
    assert [t.native_id for t in messages(store_sink, first.uri)] == [first.uri, answer.uri]
