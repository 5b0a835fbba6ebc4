"""The X collector against the sandbox: real tweepy, a real socket, a real SQLite store."""

from __future__ import annotations

import json
import time

import tweepy
from x_testkit import BEARER, wait_for

from listener.config import BrandSettings
from listener.sandbox.replay import SandboxTweet
from listener.transport import redirect
from listener.x import cursor_key
from listener.x_rules import brand_rules
from store.clock import as_utc
from store.models import Identity, Thread

DESK = BrandSettings(name="desk", accounts={"x": ["AmazonHelp", "AppleSupport", "Delta"]})
RULE = brand_rules(DESK)[0].value


def is_live(running) -> bool:
    return "streaming" in running.states()


def test_stream_delivers_replayed_tweets_with_authors_and_threads(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: is_live(running), what="the first backfill")

    sandbox.advance(400)
    expected = {tweet.id: tweet for tweet in sandbox.matching(RULE)}
    assert len(expected) > 30
    wait_for(lambda: set(store_sink.native_ids()) >= set(expected), what="every matching tweet stored")
    assert set(sandbox.delivered) >= set(expected), "they came through the stream, not a backfill"

    with store_sink.store.read() as session:
        for mention in store_sink.mentions():  # the mentions; their thread context has tests of its own
            tweet: SandboxTweet = expected[mention.native_id]
            thread = session.get(Thread, mention.thread_id)
            identity = session.get(Identity, mention.identity_id)
            assert thread is not None and identity is not None
            assert thread.conversation_id == tweet.conversation_id
            assert mention.reply_to_native_id == tweet.in_reply_to_id
            assert identity.native_user_id == tweet.author.id
            assert identity.handle == tweet.author.username
            assert identity.display_name == tweet.author.name
            assert identity.followers == tweet.author.followers
            assert mention.is_own == tweet.author.is_brand
            assert mention.brand == "desk"
            assert as_utc(mention.created_at) == tweet.created_at
            assert mention.text == tweet.text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
            assert mention.raw["matching_rules"][0]["tag"] == "brand:desk"
    # Conversations hold together: several stored tweets share a thread.
    assert len({t.conversation_id for t in expected.values()}) < len(expected)


def test_drop_mid_replay_loses_nothing_and_stores_each_tweet_once(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(pace=400, preposted=60, limit=900, paused=True)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: is_live(running), what="the first backfill")
    preposted = {t.id for t in sandbox.matching(RULE)}
    assert preposted and set(store_sink.native_ids()) == preposted, "the first backfill found the preposted"

    # 1. Cut the stream while the replay is pouring tweets into it: whatever was queued or half-sent dies.
    sandbox.resume()
    wait_for(lambda: len(sandbox.delivered) >= 10, what="the stream to flow")
    sandbox.drop()
    wait_for(lambda: running.collector.stats.connects >= 2, what="a reconnect")

    # 2. A longer outage: X refuses the reconnects while tweets keep being posted.
    sandbox.fail_next_connect(503, count=10_000)
    sandbox.drop()
    wait_for(lambda: any(r["status"] == 503 for r in sandbox.requests), what="a refused reconnect")
    assert sandbox.connections == 0
    posted_while_away = [t for t in sandbox.advance(120) if t.id in {m.id for m in sandbox.matching(RULE)}]
    sandbox.fail_next_connect(503, count=0)

    wait_for(lambda: sandbox.replay.remaining == 0, timeout=15, what="the replay to finish")
    expected = {t.id for t in sandbox.matching(RULE)}
    wait_for(lambda: set(store_sink.native_ids()) == expected, timeout=15, what="every matching tweet stored")

    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)) == len(expected), "each tweet exactly once"
    # The ones posted during the outage were never on any stream: only the backfill can have brought them.
    assert posted_while_away
    assert not {t.id for t in posted_while_away} & set(sandbox.delivered)
    # And the backfill asked from the cursor, not from the beginning of time.
    searches = [r for r in sandbox.requests if r["path"] == "/2/tweets/search/recent"]
    assert any("since_id" in r["query"] for r in searches)
    assert running.collector.stats.connects >= 3
    # The cursor stands on a stored tweet; it may lag behind the newest (a stream tweet that came in while the
    # last backfill ran does not move it), which only costs a few duplicates at the next reconnect.
    assert store_sink.get_cursor(cursor_key("desk")) in expected


def test_malformed_lines_are_put_aside_and_the_stream_goes_on(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK], max_line_bytes=4096)
    wait_for(lambda: is_live(running), what="the stream")
    good = sandbox.push("@Delta first", author="jane")
    wait_for(lambda: good.id in store_sink.native_ids(), what="a first tweet")

    rule_id = sandbox.rules[0]["id"]
    tweet = {
        "id": "1790000000000000002",
        "text": "@Delta my bag",
        "author_id": "42",
        "conversation_id": "1790000000000000002",
        "created_at": "2024-05-13T09:15:02.000Z",
        "edit_history_tweet_ids": ["1790000000000000002"],
    }
    users = {"users": [{"id": "42", "name": "Jane", "username": "jane"}]}
    lines = {
        "not JSON": b'{"data": {"id": "17900',
        "data.author_id is missing": json.dumps(
            {"data": {"id": "1", "text": "hi"}, "matching_rules": [{"id": rule_id, "tag": "brand:desk"}]}
        ).encode(),
        "has no tag": json.dumps(
            {"data": tweet, "includes": users, "matching_rules": [{"id": rule_id}]}
        ).encode(),
        "not X's timestamp format": json.dumps(
            {
                "data": {**tweet, "created_at": "2024-05-13T09:15:02Z"},
                "includes": users,
                "matching_rules": [{"id": rule_id, "tag": "brand:desk"}],
            }
        ).encode(),
        "longer than the 4096 allowed": b'{"data": "' + b"x" * 10_000 + b'"}',
    }
    for line in lines.values():
        sandbox.send_raw(line)
    after = sandbox.push("@Delta second", author="jane")
    wait_for(lambda: after.id in store_sink.native_ids(), what="the tweet after the bad lines")

    quarantined = store_sink.quarantined()
    assert len(quarantined) == len(lines)
    for (reason, line), item in zip(lines.items(), quarantined, strict=True):
        assert reason in item.reason
        assert item.network == "x" and item.source == "x:stream"
        assert item.raw == line
    assert running.collector.stats.connects == 1, "no line broke the connection"


def test_an_errors_frame_is_reported_and_the_stream_reconnects(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: is_live(running), what="the stream")
    sandbox.error_frame()
    wait_for(lambda: running.collector.stats.connects >= 2, what="a reconnect after the disconnect frame")
    assert any(e.state == "warning" and "operational-disconnect" in e.detail for e in running.health)
    later = sandbox.push("@AppleSupport screen is black", author="sam")
    wait_for(lambda: later.id in store_sink.native_ids(), what="tweets after the reconnect")
    assert store_sink.quarantined() == []


def test_a_stalled_stream_times_out_and_nothing_is_lost(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK], read_timeout=0.5)
    wait_for(lambda: is_live(running), what="the stream")
    sandbox.stall(1.5)
    during = sandbox.push("@AmazonHelp where is my parcel", author="kim")
    wait_for(lambda: running.collector.stats.connects >= 2, what="a reconnect after the read timeout")
    wait_for(lambda: during.id in store_sink.native_ids(), what="the tweet sent into the stall")
    assert any("stream connection lost" in e.detail for e in running.health)


def test_refused_connects_back_off_then_recover(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    sandbox.fail_next_connect(429, count=2)
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: is_live(running), what="the stream after two 429s")
    refused = [e for e in running.health if "X refused the stream: 429" in e.detail]
    assert len(refused) == 2 and "TooManyConnections" in refused[0].detail


def test_rules_sync_adds_missing_and_deletes_removed(sandbox_factory, run_collector):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    admin = redirect(tweepy.StreamingClient(BEARER, return_type=dict), server.base_url)
    admin.add_rules(
        [
            tweepy.StreamRule("from:OldBrand OR @OldBrand", tag="brand:old"),
            tweepy.StreamRule("cats OR dogs", tag="another-app"),
            tweepy.StreamRule(RULE, tag="brand:renamed"),
        ]
    )
    running = run_collector(server.base_url, [DESK, BrandSettings(name="acme", terms=["acme", '"my order"'])])
    wait_for(lambda: running.collector.stats.connects >= 1, what="the stream")
    rules = {(rule["value"], rule.get("tag")) for rule in sandbox.rules}
    assert rules == {
        (RULE, "brand:desk"),
        ('acme OR "my order"', "brand:acme"),
        ("cats OR dogs", "another-app"),  # not ours: left alone
    }


def test_rules_are_split_to_fit_xs_512_characters() -> None:
    brand = BrandSettings(name="big", terms=[f"term{i:03d}" for i in range(120)], accounts={"x": ["Big"]})
    rules = brand_rules(brand)
    assert len(rules) > 1
    assert all(len(rule.value) <= 512 and rule.tag == "brand:big" for rule in rules)
    clauses = [clause for rule in rules for clause in rule.value.split(" OR ")]
    assert clauses == ["@Big", "from:Big", *brand.terms]


def test_a_restart_backfills_from_the_stored_cursor(sandbox_factory, run_collector, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    # The stream never moves a cursor; reconciliation's search does, here every 0.3 s.
    first = run_collector(server.base_url, [DESK], reconcile_seconds=0.3)
    wait_for(lambda: is_live(first), what="the stream")
    seen = sandbox.push("@Delta before the restart", author="ana")
    wait_for(lambda: seen.id in store_sink.native_ids(), what="a first tweet")
    wait_for(lambda: store_sink.get_cursor(cursor_key("desk")) == seen.id, what="the cursor to move")
    first.collector.stop()
    first.thread.join(timeout=5)

    missed = [sandbox.push(f"@Delta while earful was off {i}", author="ana") for i in range(3)]
    second = run_collector(server.base_url, [DESK])
    wait_for(lambda: is_live(second), what="the second start's backfill")
    assert {t.id for t in missed} <= set(store_sink.native_ids())
    last_search = [r for r in sandbox.requests if r["path"] == "/2/tweets/search/recent"][-1]
    assert int(last_search["query"]["since_id"]) <= int(seen.id)


def test_stop_is_prompt_even_between_keep_alives(sandbox_factory, run_collector):
    server = sandbox_factory(replay=False, keepalive=30)
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: is_live(running), what="the stream")
    started = time.monotonic()
    running.collector.stop()
    running.thread.join(timeout=5)
    assert not running.thread.is_alive()
    assert time.monotonic() - started < 2
    assert running.states()[-1] == "stopped"


def test_stream_tweets_do_not_move_the_cursor_past_an_unfilled_gap(
    sandbox_factory, run_collector, store_sink
):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK], reconcile_seconds=0.3)
    wait_for(lambda: is_live(running), what="the stream")
    before = sandbox.push("@Delta first", author="ana")
    wait_for(
        lambda: store_sink.get_cursor(cursor_key("desk")) == before.id, what="the cursor at the first tweet"
    )

    # An outage with a tweet posted meanwhile, then a reconnect whose backfill X refuses (rate limited).
    sandbox.set_rate_limit("search", 0)
    sandbox.fail_next_connect(503, count=10_000)
    sandbox.drop()
    wait_for(lambda: any(r["status"] == 503 for r in sandbox.requests), what="a refused reconnect")
    missed = sandbox.push("@Delta posted while earful was away", author="ana")
    sandbox.fail_next_connect(503, count=0)
    wait_for(lambda: any(r["status"] == 429 for r in sandbox.requests), what="the backfill to be refused")

    live = sandbox.push("@Delta posted after the reconnect", author="ana")
    wait_for(lambda: live.id in store_sink.native_ids(), what="the new stream tweet")
    assert missed.id not in store_sink.native_ids()
    assert store_sink.get_cursor(cursor_key("desk")) == before.id, "the gap is still open: the cursor waits"

    # Once search answers again (a reconnect wakes the waiting backfill), the gap fills and the cursor moves.
    sandbox.set_rate_limit("search", 450)
    sandbox.drop()
    wait_for(lambda: missed.id in store_sink.native_ids(), what="the missed tweet, through the backfill")
    wait_for(lambda: store_sink.get_cursor(cursor_key("desk")) == live.id, what="the cursor past the gap")
