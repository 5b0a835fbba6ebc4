"""The Bluesky sources under the real Supervisor against the sandbox: real websockets and atproto clients, a real
SQLite store. Zero loss through drops, stalls, refused connects, garbage and restarts."""

from __future__ import annotations

import pytest
from bluesky_testkit import BRAND_HANDLES, DESK, about
from sqlmodel import select
from x_testkit import wait_for

from listener.bluesky import JETSTREAM_SOURCE, cursor_key
from store.clock import as_utc
from store.models import Identity, Thread

pytestmark = pytest.mark.timeout(60)
SEARCH = cursor_key("desk")


def expected_uris(sandbox) -> set[str]:
    return {post.uri for post in sandbox.posted if about(post, BRAND_HANDLES)}


def stored_once(store_sink, expected: set[str]) -> None:
    wait_for(lambda: set(store_sink.native_ids()) >= expected, timeout=20, what="every mention stored")
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)), "a mention was stored twice"
    assert set(stored) == expected, f"stored what is not a mention: {set(stored) - expected}"


def test_stream_stores_replayed_posts_with_authors_threads_and_brands(
    bluesky_server, run_bluesky, store_sink
):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    running = run_bluesky(server, [DESK])
    wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream live")

    sandbox.advance(150)
    expected = expected_uris(sandbox)
    assert 40 < len(expected) < len(sandbox.posted), "the brand filter keeps some posts and drops others"
    stored_once(store_sink, expected)
    assert set(sandbox.delivered) >= expected, "they came through Jetstream"

    with store_sink.store.read() as session:
        for mention in store_sink.mentions():  # the mentions; their thread context has tests of its own
            post = sandbox.post(mention.native_id)
            thread = session.get(Thread, mention.thread_id)
            identity = session.get(Identity, mention.identity_id)
            assert post is not None and thread is not None and identity is not None
            assert thread.conversation_id == post.conversation_id
            assert mention.reply_to_native_id == post.reply_to
            assert identity.native_user_id == post.author.did
            assert identity.handle == post.author.handle
            assert identity.display_name == post.author.display_name
            assert identity.followers == post.author.followers
            assert mention.is_own == (post.author.handle in BRAND_HANDLES)
            assert mention.brand == "desk"
            assert mention.language == "en"
            assert mention.text == post.text
            assert as_utc(mention.created_at) == post.created_at
            assert mention.raw["kind"] == "commit"
    # Conversations hold together: the brand's replies and the customers' follow-ups share threads.
    with store_sink.store.read() as session:
        assert len(list(session.exec(select(Thread)))) < len(expected)
    assert store_sink.get_cursor(JETSTREAM_SOURCE) == str(max(sandbox.post(u).time_us for u in expected))


def test_drop_stall_refusals_and_garbage_lose_nothing_and_store_each_once(
    bluesky_server, run_bluesky, store_sink
):
    """While N mentions are replayed the server drops the socket, stalls, refuses reconnects with 429 then 503,
    and sends a malformed frame, a binary frame and an error frame: afterwards exactly the N are stored, once."""
    server = bluesky_server(replay=False, preposted=30, retry_after=0)
    sandbox = server.sandbox
    # Search runs only its first pass: whatever comes later can only come through Jetstream's cursor replay.
    running = run_bluesky(server, [DESK], poll_seconds=3600)
    jetstream = running.runner(JETSTREAM_SOURCE)
    wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream live")
    history = expected_uris(sandbox)
    wait_for(lambda: set(store_sink.native_ids()) >= history, what="the first start's search backfill")

    def connects() -> int:
        return len(sandbox.cursors)

    # 1. A network cut in the middle of a burst: frames queued or half-written die with the socket.
    sandbox.advance(60)
    wait_for(lambda: len(sandbox.delivered) >= 5, what="the burst flowing")
    before = connects()
    sandbox.drop()
    wait_for(lambda: connects() > before and sandbox.connections == 1, what="a reconnect after the drop")

    # 2. A stall longer than two pings: no frames, no pongs; the watchdog (or the client's ping timeout) reopens.
    before = connects()
    sandbox.stall(2.5)
    sandbox.advance(60)
    wait_for(lambda: connects() > before, timeout=10, what="a reconnect after the stall")
    assert any("stalled" in d or "ping" in d for d in running.details(JETSTREAM_SOURCE)), running.details(
        JETSTREAM_SOURCE
    )
    # What was posted during the stall arrives once it ends (a fault sent now would die with a stalled socket).
    wait_for(
        lambda: set(store_sink.native_ids()) >= expected_uris(sandbox), timeout=15, what="the stall's posts"
    )

    # 3. Reconnects refused: 429 (too many connections), then 503, while posts keep coming.
    refused_before = len([r for r in sandbox.requests if r["status"] in (429, 503)])
    sandbox.fail_next_connect(429)
    sandbox.drop()
    sandbox.advance(30)
    wait_for(lambda: any(r["status"] == 429 for r in sandbox.requests), what="a 429 on connect")
    sandbox.fail_next_connect(503)
    sandbox.drop()
    sandbox.advance(30)
    wait_for(
        lambda: len([r for r in sandbox.requests if r["status"] in (429, 503)]) >= refused_before + 2,
        what="the refused reconnects",
    )
    wait_for(lambda: sandbox.connections == 1, what="connected again")
    assert "rate-limited" in running.states(JETSTREAM_SOURCE)
    assert "retrying" in running.states(JETSTREAM_SOURCE)
    wait_for(
        lambda: set(store_sink.native_ids()) >= expected_uris(sandbox), timeout=15, what="the gap filled"
    )

    # 4. Garbage and an error frame (after which the server closes with 1011).
    sandbox.send_raw('{"did": "did:plc:x", "time_us": ')
    sandbox.send_raw(b"\x28\xb5\x2f\xfd compressed?")
    sandbox.advance(20)
    sandbox.error_frame("ConsumerTooSlow", "you are too slow")
    sandbox.advance(20)

    expected = expected_uris(sandbox)
    assert len(expected) > 60
    stored_once(store_sink, expected)
    assert set(sandbox.delivered) >= expected - history, "Jetstream's replay, not search, filled every gap"

    reasons = [item.reason for item in store_sink.quarantined()]
    assert len(reasons) == 2, reasons
    assert any("not JSON" in r for r in reasons) and any("binary frame" in r for r in reasons)
    assert any("too slow" in d for d in running.details(JETSTREAM_SOURCE))
    # Every reconnect resumed from the stored cursor (minus the rewind), never from "now".
    resumed = sandbox.cursors[1:]
    assert resumed and all(c is not None for c in resumed)
    assert jetstream.reconnects >= 5
    assert store_sink.get_cursor(JETSTREAM_SOURCE) == str(
        max(sandbox.post(u).time_us for u in expected - history)
    )


def test_restart_resumes_from_the_stored_cursors(bluesky_server, run_bluesky, store_sink):
    server = bluesky_server(replay=False, preposted=20)
    sandbox = server.sandbox
    first = run_bluesky(server, [DESK])
    wait_for(lambda: "streaming" in first.states(JETSTREAM_SOURCE), what="Jetstream live")
    sandbox.advance(60)
    wait_for(lambda: set(store_sink.native_ids()) >= expected_uris(sandbox), what="the first run's mentions")
    first.stop()
    cursor = int(store_sink.get_cursor(JETSTREAM_SOURCE))
    assert store_sink.get_cursor(SEARCH) is not None

    # Posted while earful was down: a new supervisor on the same store must find all of it, nothing twice.
    missed = [p for p in sandbox.advance(80) if about(p, BRAND_HANDLES)]
    assert missed
    requests_before, connects_before = len(sandbox.requests), len(sandbox.cursors)
    run_bluesky(server, [DESK], poll_seconds=3600)
    stored_once(store_sink, expected_uris(sandbox))
    assert sandbox.cursors[connects_before] == cursor - 1_000_000, (
        "resumed from the cursor minus rewind_seconds"
    )
    later = [r for r in sandbox.requests[requests_before:] if r["path"].endswith("searchPosts")]
    assert later and all("since" in r["query"] for r in later), "search resumed from its cursor too"


def test_search_fills_in_while_jetstream_keeps_failing(bluesky_server, run_bluesky, store_sink):
    server = bluesky_server(replay=False, preposted=10)
    sandbox = server.sandbox
    sandbox.fail_next_connect(503, count=10_000)
    running = run_bluesky(server, [DESK])
    wait_for(lambda: "polling" in running.states(SEARCH), what="search polling while Jetstream is down")
    sandbox.advance(60)
    stored_once(store_sink, expected_uris(sandbox))
    assert sandbox.connections == 0 and not sandbox.delivered, "nothing came through Jetstream"
    assert "retrying" in running.states(JETSTREAM_SOURCE)

    sandbox.fail_next_connect(503, count=0)
    wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream back")
    sandbox.advance(30)
    stored_once(store_sink, expected_uris(sandbox))
