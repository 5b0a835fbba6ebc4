"""What the desk shows about a Reddit source: a pause for the budget before any 429, errors that need a person,
and a stop that does not wait for a server that stopped answering."""

from __future__ import annotations

import re
import time

import pytest
from reddit_testkit import DESK, Desk, fast_settings, start_sandbox
from x_testkit import wait_for

from listener.reddit import REDDIT_POLICY, build_sources
from listener.source import Backoff, BackoffPolicy, ConnectionLost, RateLimited, Refused

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sandbox_thread():
    server = start_sandbox(subreddits=["support"])
    yield server
    server.stop()


def test_a_nearly_spent_budget_pauses_before_any_429(sandbox_thread, store_sink):
    sandbox = sandbox_thread.sandbox
    desk = Desk.start(fast_settings(sandbox_thread.base_url, stall_after=0.6), [DESK], store_sink)
    try:
        wait_for(desk.polling, what="both sources caught up")
        sandbox.set_rate_limit(4, reset_in=1.0)
        paused = wait_for(lambda: desk.events("rate-limited"), what="the pause")
        assert re.search(r"nearly spent \(\d calls left\); waiting [12] s for it to refill", paused[0].detail)
        assert paused[0].until is not None
        during = sandbox.push("u/Delta lost my bag", author="kim")
        wait_for(lambda: during.fullname in store_sink.native_ids(), what="collection after the refill")
        # Back to polling once the budget refilled, and no stall reported for the deliberate wait.
        wait_for(lambda: desk.health[-1].state == "polling", what="polling again")
    finally:
        desk.stop()
    assert not [r for r in sandbox.requests if r["status"] == 429], "paused before Reddit had to refuse"
    assert not any("stalled" in e.detail for e in desk.health)


def test_an_unknown_subreddit_is_an_error_naming_the_fix(sandbox_thread, store_sink):
    settings = fast_settings(sandbox_thread.base_url, subreddits=["nosuchplace"], submissions=False)
    desk = Desk.start(settings, [DESK], store_sink)
    try:
        error = wait_for(lambda: desk.events("error"), what="the error")[0]
    finally:
        desk.stop()
    assert error.source == "reddit:comments:nosuchplace"
    assert "r/nosuchplace does not exist" in error.detail and "reddit.subreddits" in error.detail
    assert error.until is not None, "retried later, not given up"


def test_refused_credentials_are_an_error_naming_the_settings(sandbox_thread, store_sink):
    sandbox = sandbox_thread.sandbox
    sandbox.fail_next_connect(401, count=10)
    desk = Desk.start(fast_settings(sandbox_thread.base_url, submissions=False), [DESK], store_sink)
    try:
        error = wait_for(lambda: desk.events("error"), what="the error")[0]
    finally:
        desk.stop()
    assert "reddit.client_id" in error.detail and "reddit.password" in error.detail
    assert all(r["auth"] != "bearer" or r["status"] == 401 for r in sandbox.requests)


def test_stop_is_prompt_while_reddit_holds_an_answer(sandbox_thread, store_sink):
    sandbox = sandbox_thread.sandbox
    settings = fast_settings(sandbox_thread.base_url, read_timeout=30.0, stall_after=30.0)
    desk = Desk.start(settings, [DESK], store_sink)
    wait_for(desk.polling, what="both sources caught up")
    held = len(sandbox.requests)
    sandbox.stall(60)
    wait_for(lambda: len(sandbox.requests) >= held + 2, what="both sources waiting on an answer")
    started = time.monotonic()
    desk.stop()
    assert time.monotonic() - started < 3
    assert desk.health[-1].state == "stopped"


def test_build_sources_one_pair_per_subreddit_named_for_their_cursors(sandbox_thread):
    settings = fast_settings(sandbox_thread.base_url, subreddits=["r/Support", "/r/acme/"])
    names = [source.name for source in build_sources(settings, [DESK])]
    assert names == [
        "reddit:comments:support",
        "reddit:submissions:support",
        "reddit:comments:acme",
        "reddit:submissions:acme",
    ]
    assert build_sources(fast_settings(sandbox_thread.base_url, enabled=False), [DESK]) == []
    with pytest.raises(ValueError, match="reddit.subreddits is empty"):
        build_sources(fast_settings(sandbox_thread.base_url, subreddits=[]), [DESK])
    with pytest.raises(ValueError, match="no reddit.client_id and reddit.client_secret"):
        build_sources(fast_settings(sandbox_thread.base_url, client_secret=None), [DESK])


def test_reddit_backoff_matches_praws_documented_waits():
    policy: BackoffPolicy = REDDIT_POLICY
    backoff = Backoff(policy)
    lost = [backoff.delay(ConnectionLost("x"), now=0) for _ in range(20)]
    assert lost[:3] == [1.0, 2.0, 3.0] and max(lost) == 16.0
    backoff.reset()
    refused = [backoff.delay(Refused(503, ""), now=0) for _ in range(6)]
    assert refused == [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]
    assert Backoff(policy).delay(RateLimited("429", until=100.0), now=40.0) == pytest.approx(61.0)
