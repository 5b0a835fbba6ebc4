"""X under the one supervisor, against the sandbox: every fault at once, restarts, X's backoff and the watchdog.

Real tweepy, real sockets on 127.0.0.1, a real SQLite store; waits are X's policy scaled down, or X's own
waits on an injected clock and sleep."""

from __future__ import annotations

import time

import pytest
from x_testkit import FASTER, supervise, wait_for, x_settings

from listener.config import BrandSettings
from listener.x import build_sources, cursor_key
from listener.x_filtered import XStreamSource
from listener.x_rules import brand_rules

pytestmark = pytest.mark.timeout(60)

DESK = BrandSettings(name="desk", accounts={"x": ["AmazonHelp", "AppleSupport", "Delta"]})
RULE = brand_rules(DESK)[0].value
STREAM = "x:stream"
MALFORMED = b'{"data": {"id": "17900'


def stream_of(sources) -> XStreamSource:
    [stream] = [s for s in sources if isinstance(s, XStreamSource)]
    return stream


def streaming_count(running) -> int:
    return running.states(STREAM).count("streaming")


def test_drop_stall_refusals_garbage_and_a_restart_store_every_mention_once(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, keepalive=0.1)
    sandbox = server.sandbox
    # The read timeout is far off: only the supervisor's watchdog can notice the stall below.
    settings = x_settings(server.base_url, stall_seconds=0.5, read_timeout=30.0)
    sources = build_sources(settings, [DESK], policy=FASTER)
    stream = stream_of(sources)

    def replay(rows: int = 50) -> None:
        sandbox.advance(rows)

    with supervise(sources, store_sink) as running:
        runner = running.runner(STREAM)

        def live_again(connects: int, what: str) -> None:
            """A connection newer than the `connects`th one, with its gap filled."""
            wait_for(
                lambda: stream.stats.connects > connects and runner.health_state == "streaming",
                timeout=10,
                what=what,
            )

        live_again(0, "the first backfill")
        replay()
        wait_for(lambda: set(sandbox.delivered), what="tweets on the stream")

        # 1. A cut mid-stream: whatever was queued or half-sent dies with the connection.
        connects = stream.stats.connects
        replay()
        sandbox.drop()
        live_again(connects, "a reconnect after the drop")

        # 2. A stall: the server sends nothing, not even keep-alives, and holds the tweets posted meanwhile.
        sandbox.stall(1.5)
        replay()
        wait_for(
            lambda: any("stalled" in e.detail for e in running.events(STREAM)), what="the watchdog's verdict"
        )
        # Reconnects during the stall find the server just as silent: wait for it to speak again.
        heard = stream.stats.keep_alives
        wait_for(lambda: stream.stats.keep_alives > heard + 2, timeout=10, what="keep-alives after the stall")

        # 3. X refuses the next two connects, 429 then 503, while tweets keep coming.
        connects = stream.stats.connects
        sandbox.fail_connects(429, 503)
        sandbox.drop()
        replay()
        live_again(connects, "the stream after 429 and 503")

        # 4. Garbage on the stream, then an operational-disconnect frame and a clean close.
        connects = stream.stats.connects
        sandbox.send_raw(MALFORMED)
        replay()
        sandbox.error_frame()
        live_again(connects, "a reconnect after the error frame")
        replay()

        expected = {tweet.id for tweet in sandbox.matching(RULE)}
        wait_for(lambda: set(store_sink.native_ids()) == expected, timeout=10, what="every mention stored")

        statuses = [r["status"] for r in sandbox.requests if r["path"] == "/2/tweets/search/stream"]
        assert 429 in statuses and 503 in statuses
        details = [e.detail for e in running.events(STREAM)]
        assert any("X refused the stream: 429" in d and "TooManyConnections" in d for d in details)
        assert any("HTTP 503" in d for d in details)
        assert any("operational-disconnect" in d for d in details)
        assert runner.reconnects >= 5 and stream.stats.connects >= 5
        assert runner.health().last_event_at is not None

    # Some came only through a backfill: the stream never carried them.
    assert expected - set(sandbox.delivered)
    stored = store_sink.native_ids()
    assert len(expected) >= 40 and len(stored) == len(set(stored)) == len(expected), "each mention once"
    [garbage] = store_sink.quarantined()
    assert garbage.raw == MALFORMED and "not JSON" in garbage.reason and garbage.source == STREAM

    # A restart: a new supervisor on the same store resumes from the stored cursor.
    cursor = store_sink.get_cursor(cursor_key("desk"))
    assert cursor in expected
    replay()
    missed = {tweet.id for tweet in sandbox.matching(RULE)} - expected
    assert missed
    searches_before = len([r for r in sandbox.requests if r["path"] == "/2/tweets/search/recent"])
    with supervise(build_sources(settings, [DESK], policy=FASTER), store_sink) as running:
        wait_for(lambda: streaming_count(running) >= 1, what="the backfill after the restart")
        assert missed <= set(store_sink.native_ids())
    searches = [r for r in sandbox.requests if r["path"] == "/2/tweets/search/recent"][searches_before:]
    assert searches and all(int(r["query"]["since_id"]) <= int(cursor) for r in searches)
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)) == len(expected | missed)


def test_reconnect_waits_follow_xs_documented_backoff(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    waits: list[float] = []
    offset = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        offset[0] += seconds

    sources = build_sources(x_settings(server.base_url), [DESK])  # X's own policy, unscaled
    sandbox.fail_connects(503, 503, 503)
    with supervise(sources, store_sink, clock=lambda: time.time() + offset[0], sleep=sleep) as running:
        wait_for(lambda: streaming_count(running) >= 1, what="the stream after three 503s")
        assert waits == [5.0, 10.0, 20.0], "HTTP errors: 5 s, doubling"
        sandbox.drop()
        wait_for(lambda: streaming_count(running) >= 2, what="the stream after a drop")
        assert waits[3:] == [0.25], "a network error after a good connection: 0.25 s"
        events = running.events(STREAM)
        retrying = [e for e in events if e.state == "retrying" and "HTTP 503" in e.detail]
        assert len(retrying) == 3 and all(e.until is not None for e in retrying)

    waits.clear()
    sandbox.fail_connects(429, 429)
    with supervise(build_sources(x_settings(server.base_url), [DESK]), store_sink, sleep=sleep) as running:
        wait_for(lambda: streaming_count(running) >= 1, what="the stream after two 429s")
        assert waits == [60.0, 120.0], "429 on connect: 60 s, doubling"
        assert running.states(STREAM).count("rate-limited") == 2


def test_the_watchdog_reopens_a_silent_stream_after_twice_the_keep_alive(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, keepalive=0.1)
    sandbox = server.sandbox
    offset = [0.0]
    settings = x_settings(server.base_url, read_timeout=21.0)  # X's own read timeout and 45 s watchdog
    sources = build_sources(settings, [DESK], policy=FASTER)
    assert stream_of(sources).stall_after == 45.0
    with supervise(sources, store_sink, clock=lambda: time.time() + offset[0]) as running:
        runner = running.runner(STREAM)
        wait_for(lambda: streaming_count(running) >= 1, what="the stream")
        sandbox.stall(1.0)
        during = sandbox.push("@Delta my bag is in Lisbon and I am not", author="ana")
        started = time.monotonic()

        def jump() -> bool:
            # A keep-alive already on its way may still land after the stall began; jump again until it
            # is the silence the watchdog sees.
            if runner.reconnects == 0:
                offset[0] += 46.0
            return runner.reconnects >= 1

        wait_for(jump, what="the watchdog to reconnect")
        assert time.monotonic() - started < 1.0, "well before the 21 s read timeout"
        assert any(e.state == "warning" and "stalled" in e.detail for e in running.events(STREAM))
        wait_for(lambda: during.id in store_sink.native_ids(), what="the tweet posted into the stall")


def test_stop_is_prompt_and_reported(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, keepalive=30)
    sources = build_sources(x_settings(server.base_url), [DESK], policy=FASTER)
    with supervise(sources, store_sink) as running:
        wait_for(lambda: streaming_count(running) >= 1, what="the stream")
        started = time.monotonic()
        running.stop()
        assert time.monotonic() - started < 2
    assert running.states(STREAM)[-1] == "stopped"


def test_rule_sync_waits_for_the_rules_budget_instead_of_drawing_a_429(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    # One rules call a second: reading the rules spends it, adding them must wait for the reset.
    sandbox.set_rate_limit("rules", 1, limit=1, window=1.0)
    sources = build_sources(x_settings(server.base_url), [DESK], policy=FASTER)
    with supervise(sources, store_sink) as running:
        wait_for(lambda: streaming_count(running) >= 1, timeout=10, what="the stream after the pause")
        paused = [e for e in running.events(STREAM) if e.state == "rate-limited"]
        assert len(paused) == 1 and "rules budget spent" in paused[0].detail and paused[0].until is not None
    assert [r["status"] for r in sandbox.requests if r["path"].endswith("/rules")] == [200, 200]
    assert {rule["tag"] for rule in sandbox.rules} == {"brand:desk"}
