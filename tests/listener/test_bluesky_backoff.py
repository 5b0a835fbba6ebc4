"""Bluesky's backoff, watchdog and rate-limit budget: the real sources and Supervisor against the sandbox, with an
injected clock and sleep where the waits would otherwise be seconds or minutes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from bluesky_testkit import FAST
from x_testkit import wait_for

from listener.bluesky import BACKOFF, JETSTREAM_SOURCE, build_sources, cursor_key
from listener.config import BrandSettings
from listener.health import HealthEvent
from listener.sandbox.bluesky import sandbox_settings
from listener.source import BackoffPolicy
from listener.supervisor import Supervisor

pytestmark = pytest.mark.timeout(30)
BRAND = BrandSettings(name="delta", accounts={"bluesky": ["delta.bsky.social"]})


class Clock:
    """Real time plus whatever the test skips ahead."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.time() + self.skipped


def supervise(
    server,
    store_sink,
    only: str,
    *,
    policy: BackoffPolicy,
    clock: Callable[[], float] = time.time,
    sleep=None,
    watchdog_every: float = 3600.0,
    **settings,
):
    config = sandbox_settings(server.base_url, **{"rewind_seconds": 1.0, "poll_seconds": 0.3, **settings})
    sources = [s for s in build_sources(config, [BRAND], policy=policy) if s.name == only]
    health: list[HealthEvent] = []
    supervisor = Supervisor(
        sources,
        sink=store_sink.sink,
        put_aside=store_sink.put_aside,
        get_cursor=store_sink.get_cursor,
        on_health=health.append,
        clock=clock,
        sleep=sleep,
        watchdog_every=watchdog_every,
    )
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    return supervisor, thread, health


def stop(supervisor: Supervisor, thread: threading.Thread) -> None:
    supervisor.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def states(health: list[HealthEvent]) -> list[str]:
    return [str(event.state) for event in list(health)]


def test_refused_connects_wait_as_the_policy_says(bluesky_server, store_sink):
    server = bluesky_server(replay=False, retry_after=30)
    sandbox = server.sandbox
    sandbox.fail_next_connect(503, count=3)
    sandbox.fail_next_connect(429)
    slept: list[float] = []
    supervisor, thread, health = supervise(
        server, store_sink, JETSTREAM_SOURCE, policy=BACKOFF, sleep=slept.append
    )
    try:
        wait_for(lambda: "streaming" in states(health), what="connected after the refusals")
        # 503: 2, 4, 8 s (exponential); 429 with ratelimit-reset 30 s ahead: until then, plus a second.
        assert slept[:3] == [2.0, 4.0, 8.0]
        assert 29.0 <= slept[3] <= 32.0
        limited = [e for e in health if str(e.state) == "rate-limited"]
        assert limited and limited[0].until is not None
        assert "429" in limited[0].detail
        # A drop after a good connect starts over at the shortest network wait.
        sandbox.drop()
        wait_for(lambda: len(slept) >= 5, what="the reconnect after a drop")
        assert slept[4] == BACKOFF.network_step
    finally:
        stop(supervisor, thread)


def test_watchdog_reopens_a_stalled_stream_but_not_a_quiet_one(bluesky_server, store_sink):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    clock = Clock()
    # read_timeout at its maximum: the client's own ping timeout stays out of the way, the watchdog decides.
    supervisor, thread, health = supervise(
        server, store_sink, JETSTREAM_SOURCE, policy=FAST, clock=clock, read_timeout=600.0
    )
    runner = supervisor.runners[0]
    try:
        wait_for(lambda: "streaming" in states(health), what="Jetstream live")
        # Quiet, but the server's pings arrive: alive, whatever the clock says.
        clock.skipped += 500
        wait_for(lambda: (runner.last_alive or 0) >= clock() - 1, what="a ping noticed")
        clock.skipped += 500
        assert supervisor.check_stalls() == []

        sandbox.stall(60)
        clock.skipped += 601
        assert supervisor.check_stalls() == [JETSTREAM_SOURCE]
        wait_for(lambda: len(sandbox.cursors) == 2, what="a new connection")
        assert any(e.detail.startswith("stalled: nothing received for 1101 s") for e in health)
        sandbox.stall(0)
        post = sandbox.push("@delta.bsky.social hello again", author="ann")
        wait_for(lambda: post.uri in store_sink.native_ids(), what="the stream flowing again")
        assert runner.reconnects == 1
    finally:
        stop(supervisor, thread)


def test_search_waits_for_its_budget_instead_of_hitting_429(bluesky_server, store_sink):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    history = [sandbox.push(f"@delta.bsky.social problem {i}", author=f"c{i}") for i in range(3)]
    # Login, the brand's profile and three searches need five calls: the budget allows two before its reset.
    sandbox.set_rate_limit(2, reset_in=1.0)
    supervisor, thread, health = supervise(server, store_sink, cursor_key("delta"), policy=FAST)
    try:
        wait_for(lambda: set(store_sink.native_ids()) >= {p.uri for p in history}, what="the history")
        limited = [e for e in health if str(e.state) == "rate-limited"]
        assert limited and limited[0].until is not None and "0 calls left" in limited[0].detail
        assert not [r for r in sandbox.requests if r["status"] == 429], "waited instead of being refused"

        # A budget spent elsewhere (another client of the same account): the 429 is waited out, then on.
        sandbox.set_rate_limit(0, reset_in=1.0)
        wait_for(lambda: any(r["status"] == 429 for r in sandbox.requests), what="a 429")
        later = sandbox.push("@delta.bsky.social still broken", author="late")
        wait_for(lambda: later.uri in store_sink.native_ids(), timeout=10, what="search after the reset")
        refused = [e for e in health if str(e.state) == "rate-limited" and "429" in e.detail]
        assert refused and refused[-1].until is not None
    finally:
        stop(supervisor, thread)
