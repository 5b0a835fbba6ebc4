"""Streams that stay open and stop telling: keep-alives (or pings) keep coming, posts do not, all of them or
some. Through the real clients against the sandboxes, every post ends up stored by the supervisor's
reconciliation, health says what happened, and the cursor never passes a post that was not stored."""

from __future__ import annotations

import mastodon_testkit
import pytest
from bluesky_testkit import about
from x_testkit import FASTER, supervise, wait_for, x_settings

from listener.bluesky import JETSTREAM_SOURCE
from listener.config import BrandSettings
from listener.x import build_sources, cursor_key
from listener.x_filtered import XStreamSource

pytestmark = pytest.mark.timeout(60)
mastodon_server = mastodon_testkit.mastodon_server
supervise_mastodon = mastodon_testkit.supervise

DESK = BrandSettings(name="desk", accounts={"x": ["AmazonHelp", "AppleSupport", "Delta"]})
STREAM = "x:stream"
TAG = "mastodon:tag:delta"


def x_stream(sources) -> XStreamSource:
    return next(s for s in sources if isinstance(s, XStreamSource))


def details(events) -> list[str]:
    return [e.detail for e in list(events)]


def test_x_stream_with_keep_alives_but_no_tweets_loses_none(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, keepalive=0.05)
    sandbox = server.sandbox
    # Two minutes of quiet in production; 0.4 s here. The timer alone would wait five minutes.
    settings = x_settings(server.base_url, quiet_seconds=0.4, reconcile_seconds=300)
    sources = build_sources(settings, [DESK], policy=FASTER)
    with supervise(sources, store_sink) as running:
        runner = running.runner(STREAM)
        wait_for(lambda: runner.health_state == "streaming", what="the stream")
        sandbox.swallow(1)
        posted = [sandbox.push(f"@Delta my bag {i} is in Lisbon", author=f"cust{i}") for i in range(12)]
        wanted = {t.id for t in posted}
        wait_for(lambda: wanted <= set(store_sink.native_ids()), timeout=15, what="every tweet stored")
        wait_for(
            lambda: any("reconnecting" in d for d in details(running.events(STREAM))), what="a reconnect"
        )
        assert wanted <= set(sandbox.streams.swallowed), "not one came down the stream"
        assert not wanted & set(sandbox.delivered)
        said = details(running.events(STREAM))
        assert any("stream silent since" in d and "reconciling from the cursor" in d for d in said), said
        assert runner.health().missed >= 1 and runner.health().reconciled >= 1
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)), "each tweet once"
    assert store_sink.get_cursor(cursor_key("desk")) in wanted


def test_x_stream_dropping_every_other_tweet_loses_none(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, keepalive=0.05)
    sandbox = server.sandbox
    settings = x_settings(server.base_url, quiet_seconds=30, reconcile_seconds=0.5)
    sources = build_sources(settings, [DESK], policy=FASTER)
    with supervise(sources, store_sink) as running:
        runner = running.runner(STREAM)
        wait_for(lambda: runner.health_state == "streaming", what="the stream")
        sandbox.swallow(2)
        posted = [
            sandbox.push(f"@AppleSupport my phone {i} will not charge", author="kim") for i in range(10)
        ]
        wanted = {t.id for t in posted}
        wait_for(lambda: wanted <= set(store_sink.native_ids()), timeout=15, what="every tweet stored")
        assert wanted & set(sandbox.delivered) and wanted & set(sandbox.streams.swallowed), "half and half"
        dropped = wait_for(
            lambda: [d for d in details(running.events(STREAM)) if "the stream dropped" in d],
            what="the verdict",
        )
        assert "reconciliation found and stored" in dropped[0]
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored))


def test_mastodon_streams_with_heartbeats_but_no_statuses_lose_none(
    mastodon_server, supervise_mastodon, store_sink
):
    server = mastodon_server(replay=False, only=("Delta",), keepalive=0.05)
    sandbox = server.sandbox
    running = supervise_mastodon(server.base_url, quiet_seconds=0.4, reconcile_seconds=300)
    wait_for(running.live, what="both streams caught up")
    sandbox.swallow(1)
    posted = [sandbox.push(f"#delta my bag {i} is in Lisbon", author=f"cust{i}") for i in range(8)]
    # The notification stream hears of a mention of the brand's account; it is silent too.
    mention = sandbox.push("@Delta where is my refund", author="kim")
    wanted = {s.id for s in posted} | {mention.id}
    wait_for(lambda: wanted <= set(store_sink.native_ids()), timeout=15, what="every status stored")
    assert not wanted & set(sandbox.delivered), "not one came down a stream"
    said = [e.detail for e in running.health if e.source == TAG]
    assert any("stream silent since" in d and "reconciling from the cursor" in d for d in said), said
    running.stop()
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored))
    assert store_sink.get_cursor(TAG) in {s.id for s in posted}


def test_mastodon_stream_dropping_some_statuses_loses_none(mastodon_server, supervise_mastodon, store_sink):
    server = mastodon_server(replay=False, only=("Delta",), keepalive=0.05)
    sandbox = server.sandbox
    running = supervise_mastodon(
        server.base_url, notifications=False, quiet_seconds=30, reconcile_seconds=0.5
    )
    wait_for(running.live, what="the stream caught up")
    sandbox.swallow(3)
    posted = [sandbox.push(f"#delta seat {i} was double booked", author="lee") for i in range(9)]
    wanted = {s.id for s in posted}
    wait_for(lambda: wanted <= set(store_sink.native_ids()), timeout=15, what="every status stored")
    assert wanted & set(sandbox.delivered) and wanted - set(sandbox.delivered), "some streamed, some not"
    wait_for(
        lambda: any("the stream dropped" in e.detail for e in list(running.health) if e.source == TAG),
        what="the verdict",
    )


def test_jetstream_with_pings_but_no_posts_loses_what_search_finds(bluesky_server, run_bluesky, store_sink):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    brand = BrandSettings(name="desk", accounts={"bluesky": ["delta.bsky.social"]})
    # Search polls only while Jetstream is down; while it streams, Jetstream reconciles through search.
    running = run_bluesky(server, [brand], quiet_seconds=0.4, standby_seconds=300, poll_seconds=3600)
    jetstream = running.runner(JETSTREAM_SOURCE)
    wait_for(lambda: jetstream.health_state == "streaming", what="Jetstream live")
    sandbox.swallow(1)
    posted = [sandbox.push(f"@delta.bsky.social my bag {i} is lost", author=f"cust{i}") for i in range(6)]
    wanted = {p.uri for p in posted}
    assert all(about(p, ["delta.bsky.social"]) for p in posted)
    wait_for(lambda: wanted <= set(store_sink.native_ids()), timeout=15, what="every post stored")
    assert not wanted & set(sandbox.delivered), "not one came through Jetstream"
    said = running.details(JETSTREAM_SOURCE)
    assert any("stream silent since" in d for d in said), said
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored))
