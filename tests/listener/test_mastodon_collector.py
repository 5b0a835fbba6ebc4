"""The Mastodon sources under the supervisor, against the sandbox: real Mastodon.py, real sockets, real SQLite."""

from __future__ import annotations

import time

import mastodon_testkit
import pytest
from mastodon_testkit import DELTA, wait_for
from sqlmodel import select

from listener.config import BrandSettings
from listener.mastodon import build_sources
from listener.mastodon_normalise import html_to_text
from listener.sandbox.mastodon import sandbox_settings
from store.clock import as_utc
from store.models import Identity, Thread

pytestmark = pytest.mark.timeout(60)
mastodon_server = mastodon_testkit.mastodon_server
supervise = mastodon_testkit.supervise
TAG, NOTES = "mastodon:tag:delta", "mastodon:notifications"


def test_build_sources_streams_each_brand_hashtag_and_the_accounts_mentions():
    settings = sandbox_settings("http://127.0.0.1:9", hashtags=["#Support"])
    brands = [
        DELTA,
        BrandSettings(name="acme", terms=["#acme AND NOT #job", '"my order"', "#support"]),
        BrandSettings(name="xonly", terms=["#elsewhere"], networks=["x"]),
    ]
    names = [source.name for source in build_sources(settings, brands)]
    assert names == ["mastodon:tag:support", "mastodon:tag:delta", "mastodon:tag:acme", NOTES]
    assert build_sources(sandbox_settings("http://127.0.0.1:9", enabled=False), brands) == []
    assert build_sources(settings, [brands[2]]) == [], "no brand listens on Mastodon"
    with pytest.raises(ValueError, match="mastodon.access_token"):
        build_sources(sandbox_settings("http://127.0.0.1:9", access_token=None), brands)


def test_streamed_statuses_are_stored_with_text_authors_and_threads(mastodon_server, supervise, store_sink):
    server = mastodon_server(replay=False, only=("Delta",))
    sandbox = server.sandbox
    running = supervise(server.base_url)
    wait_for(running.live, what="both sources streaming")
    sandbox.advance(60)
    expected = {s.id: s for s in sandbox.tagged("delta")}
    wait_for(lambda: set(store_sink.native_ids()) == set(expected), what="every tagged status stored")
    assert set(sandbox.delivered) >= set(expected), "they came through the streams, not a backfill"

    with store_sink.store.read() as session:
        for mention in store_sink.mentions():
            status = expected[mention.native_id]
            thread = session.get(Thread, mention.thread_id)
            identity = session.get(Identity, mention.identity_id)
            assert thread is not None and identity is not None
            assert thread.conversation_id == status.root_id
            assert mention.reply_to_native_id == status.in_reply_to_id
            assert as_utc(mention.created_at) == status.created_at
            assert mention.is_own == (status.author.username == "Delta")
            assert mention.brand == "delta"
            assert identity.native_user_id == status.author.id
            assert identity.handle == status.acct
            assert identity.followers == status.author.followers
            assert mention.raw["id"] == status.id and isinstance(mention.raw["account"]["id"], str)
            assert mention.text == html_to_text(sandbox.render(status)["content"])
            assert "<" not in mention.text.replace("<3", "") and "&amp;" not in mention.text
        threads = session.exec(select(Thread)).all()
    assert len(threads) < len(expected), "replies joined their conversations"


def test_a_reply_whose_parent_was_never_seen_joins_its_root_through_context(
    mastodon_server, supervise, store_sink
):
    server = mastodon_server(replay=False)
    sandbox = server.sandbox
    root = sandbox.push("my flight was cancelled, no rebooking offered", author="ana")
    middle = sandbox.push("@ana same here, three hours on hold", author="ben", in_reply_to=root.id)
    running = supervise(server.base_url, notifications=False)
    wait_for(running.live, what="the hashtag stream")
    reply = sandbox.push("@ben @Delta still nothing #delta", author="ana", in_reply_to=middle.id)
    wait_for(lambda: reply.id in store_sink.native_ids(), what="the tagged reply")
    (mention,) = store_sink.mentions()
    with store_sink.store.read() as session:
        thread = session.get(Thread, mention.thread_id)
    assert thread is not None and thread.conversation_id == root.id
    assert any(r["path"] == f"/api/v1/statuses/{reply.id}/context" for r in sandbox.requests)


def test_brand_terms_decide_what_is_kept(mastodon_server, supervise, store_sink):
    server = mastodon_server(replay=False, brands=("AcmeHelp",))
    sandbox = server.sandbox
    brand = BrandSettings(
        name="acme",
        terms=['#acme AND (refund OR "late delivery") NOT job'],
        accounts={"mastodon": ["AcmeHelp"]},
        networks=["mastodon"],
    )
    running = supervise(server.base_url, [brand], notifications=False)
    wait_for(running.live, what="the #acme stream")
    kept = [
        sandbox.push("#acme where is my refund?", author="kim"),
        sandbox.push("#Acme the late delivery ruined a birthday", author="lee"),
        sandbox.push("thanks for waiting, DM us #acme", author="AcmeHelp"),  # the brand's side of a thread
    ]
    dropped = [
        sandbox.push("#acme great job on the refund", author="kim"),
        sandbox.push("#acme delivery was late", author="lee"),
    ]
    last = sandbox.push("#acme refund please", author="kim")
    wait_for(lambda: last.id in store_sink.native_ids(), what="the last status")
    stored = {m.native_id: m for m in store_sink.mentions()}
    assert set(stored) == {s.id for s in kept} | {last.id}
    assert not {s.id for s in dropped} & set(stored)
    assert stored[kept[2].id].is_own and not stored[kept[0].id].is_own


def test_a_restart_backfills_from_the_stored_cursor_and_stores_nothing_twice(
    mastodon_server, supervise, store_sink
):
    server = mastodon_server(pace=40, only=("Delta",), limit=70)
    sandbox = server.sandbox
    # Stream statuses never move the cursor; the REST reads do (here a reconciliation every 0.2 s).
    first = supervise(server.base_url, backfill_rewind_seconds=0, reconcile_seconds=0.2)
    wait_for(lambda: len(store_sink.native_ids()) >= 10, what="a first part of the replay")
    wait_for(lambda: store_sink.get_cursor(TAG) is not None, what="a reconciliation to move the cursor")
    first.stop()  # mid-replay: the replay goes on while earful is off
    cursor = store_sink.get_cursor(TAG)
    assert cursor in store_sink.native_ids()
    wait_for(lambda: sandbox.replay.remaining == 0, timeout=15, what="the replay to finish")
    missed = {s.id for s in sandbox.tagged("delta")} - set(store_sink.native_ids())
    assert missed

    before, streamed = len(sandbox.requests), len(sandbox.delivered)
    second = supervise(server.base_url, backfill_rewind_seconds=0)
    wait_for(second.live, what="the second start's backfill")
    expected = {s.id for s in sandbox.tagged("delta")}
    wait_for(lambda: set(store_sink.native_ids()) == expected, what="everything stored")
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)), "nothing twice"
    pages = [r for r in sandbox.requests[before:] if r["path"] == "/api/v1/timelines/tag/delta"]
    assert pages[0]["query"]["min_id"] == cursor, "the backfill started at the stored cursor"
    assert not set(sandbox.delivered[streamed:]) & missed, "what was missed came from the backfill alone"


def test_the_budget_is_waited_for_before_a_429(mastodon_server, supervise, store_sink):
    server = mastodon_server(replay=False, only=("Delta",), preposted=150)
    sandbox = server.sandbox
    sandbox.set_rate_limit(3, reset_in=120)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if seconds > 60:
            sandbox.set_rate_limit(300)  # the window has passed while the source waited

    running = supervise(server.base_url, notifications=False, sleep=sleep)
    wait_for(running.live, what="the look-back to finish")
    assert set(store_sink.native_ids()) == {s.id for s in sandbox.tagged("delta")}
    waits = [s for s in slept if s > 60]
    assert len(waits) == 1 and 115 < waits[0] < 125, slept
    limited = [e for e in running.health if e.state == "rate-limited"]
    assert limited and limited[0].until is not None and "1 calls left" in limited[0].detail
    assert all(r["status"] != 429 for r in sandbox.requests), "the budget was respected: never a 429"


def test_a_bad_token_is_an_error_that_names_the_fix(mastodon_server, supervise):
    server = mastodon_server(replay=False, valid_token="the-real-one")
    running = supervise(server.base_url)
    wait_for(lambda: {e.source for e in running.health if e.state == "error"} == {TAG, NOTES}, what="errors")
    details = [e.detail for e in running.health if e.state == "error"]
    assert all("401" in d and "mastodon.access_token" in d for d in details)


def test_stop_is_prompt_even_between_heartbeats(mastodon_server, supervise):
    server = mastodon_server(replay=False, keepalive=30)
    running = supervise(server.base_url, read_timeout=60)
    wait_for(running.live, what="the streams")
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 3
    assert all(states[-1] == "stopped" for states in (running.states(TAG), running.states(NOTES)))
