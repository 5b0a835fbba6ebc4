"""The zero-loss promise on Mastodon: while the sandbox replays real conversations, it drops the streams, stalls
them, refuses reconnects (429, then 503) and sends garbage; afterwards every mention is stored exactly once."""

from __future__ import annotations

import mastodon_testkit
import pytest
from mastodon_testkit import wait_for

pytestmark = pytest.mark.timeout(60)
mastodon_server = mastodon_testkit.mastodon_server
supervise = mastodon_testkit.supervise

# What the tag stream says of each; the notification stream puts the `update` ones aside as unexpected there.
GARBAGE = {
    b'event: update\ndata: {"id": "1", "content": "<p>cut\n\n': "update event data is not JSON",
    # The SSE standard ignores a field it does not know; a block of nothing else is kept aside for a look.
    b"this line is not an SSE field\n\n": "an SSE block without data, only unknown fields",
    b"event: update\ndata: \xff\xfe{}\n\n": "not UTF-8",
    b'event: error\ndata: {"error": "Stream overloaded"}\n\n': "does not expect here: 'error'",
}


def test_drops_stalls_refusals_and_garbage_lose_nothing_and_duplicate_nothing(
    mastodon_server, supervise, store_sink
):
    server = mastodon_server(pace=25, preposted=10, only=("Delta",), limit=75, paused=True)
    sandbox = server.sandbox
    running = supervise(server.base_url)
    tag, notes = "mastodon:tag:delta", "mastodon:notifications"
    wait_for(running.live, what="both sources caught up")
    first = {s.id for s in sandbox.tagged("delta")}
    assert first and set(store_sink.native_ids()) == first, "the first start looked back over the history"

    def posted(n: int) -> None:
        wait_for(lambda: len(sandbox.statuses) >= n, timeout=15, what=f"{n} statuses posted")

    def streaming_again() -> None:
        wait_for(lambda: sandbox.connections == 2, timeout=15, what="both streams open again")

    sandbox.resume()
    # 1. A cut mid-stream: whatever was queued or half-sent dies with the connection.
    posted(20)
    sandbox.drop()
    wait_for(lambda: running.reconnects(tag) >= 1, what="a reconnect after the drop")
    streaming_again()

    # 2. A stall: the connection stays open but silent; the read timeout or the watchdog must give up on it.
    posted(30)
    sandbox.stall(1.6)
    wait_for(lambda: running.reconnects(tag) >= 2, timeout=10, what="a reconnect after the stall")
    streaming_again()

    # 3. The next connects are refused: rate-limited first, then the service is unavailable.
    posted(40)
    sandbox.fail_next_connect(429)
    sandbox.fail_next_connect(503)
    sandbox.drop()
    wait_for(
        lambda: {429, 503} <= {r["status"] for r in sandbox.requests if "/streaming/" in r["path"]},
        what="a 429 and a 503 on reconnect",
    )
    streaming_again()

    # 4. Garbage on the open streams, and an error frame: put aside, and the streams go on.
    posted(50)
    for raw in list(GARBAGE)[:3]:
        sandbox.send_raw(raw)
    sandbox.error_frame("Stream overloaded")

    wait_for(lambda: sandbox.replay.remaining == 0, timeout=20, what="the replay to finish")
    expected = {s.id for s in sandbox.tagged("delta")}
    assert len(expected) >= 60
    wait_for(lambda: set(store_sink.native_ids()) == expected, timeout=20, what="every mention stored")

    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)) == len(expected), "each mention exactly once"
    # Some mentions were posted while no stream was open: only a backfill can have brought them.
    assert expected - set(sandbox.delivered), "the faults made the stream miss some (else this proves little)"
    states = running.states()
    assert "rate-limited" in states and "retrying" in states
    assert any(
        "stalled" in e.detail or "timed out" in e.detail.lower() or "Read" in e.detail for e in running.health
    ), "the stall was noticed"

    # Each garbage event reached both streams; each copy sits in quarantine with its reason and bytes.
    wait_for(lambda: len(store_sink.quarantined()) >= 2 * len(GARBAGE), what="the garbage put aside")
    quarantined = store_sink.quarantined()
    assert sorted(q.raw for q in quarantined) == sorted(list(GARBAGE) * 2)
    for raw, reason in GARBAGE.items():
        copies = {q.source: q.reason for q in quarantined if q.raw == raw}
        assert set(copies) == {tag, notes}
        assert reason in copies[tag]
    assert all(q.network == "mastodon" for q in quarantined)
    # The cursors stand on stored items, never past a gap.
    assert store_sink.get_cursor(tag) in expected
