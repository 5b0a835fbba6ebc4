"""The Reddit sources under the supervisor against the sandbox: real praw, a real socket, a real SQLite store.

What a user must be able to rely on: whatever the network does meanwhile, every post about the brand ends up
on the desk exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from reddit_testkit import DESK, Desk, about_desk, fast_settings, start_sandbox
from x_testkit import StoreSink, wait_for

from listener.reddit import cursor_key
from listener.reddit_normalise import cursor_of
from store.clock import as_utc
from store.models import Identity, Thread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sandbox_thread():
    server = start_sandbox(subreddits=["support"])
    yield server
    server.stop()


def stored_once(sink: StoreSink) -> Counter[str]:
    return Counter(sink.native_ids())


def test_every_mention_once_through_drop_stall_429_503_and_garbage(sandbox_thread, store_sink):
    sandbox = sandbox_thread.sandbox
    desk = Desk.start(fast_settings(sandbox_thread.base_url, stall_after=0.5), [DESK], store_sink)
    try:
        wait_for(desk.polling, what="both sources caught up")

        def replay(count: int) -> None:
            sandbox.advance(count)
            expected = {t.fullname for t in sandbox.posted if about_desk(t)}
            wait_for(
                lambda: set(store_sink.native_ids()) >= expected, timeout=15, what="the replayed mentions"
            )

        replay(20)
        # 1. Answers cut halfway: praw's one quick retry absorbs a single cut, a second in a row ends the
        # session. Two sources share the server, so four cuts make sure one of them gets two in a row.
        sandbox.drop(count=4)
        sandbox.advance(15)
        wait_for(lambda: desk.events("retrying"), what="a reconnect after the cut answers")
        replay(0)

        # 2. Reddit stops answering: the watchdog aborts the held request and the source reconnects.
        sandbox.stall(1.5)
        sandbox.advance(15)
        wait_for(lambda: any("stalled" in e.detail for e in desk.events("warning")), what="the watchdog")
        replay(0)

        # 3. The budget is spent behind our back (another app on the same account): 429; then 503s (four, for
        # the same reason as the cuts).
        sandbox.set_rate_limit(0, reset_in=0.5)
        sandbox.advance(15)
        wait_for(lambda: desk.events("rate-limited"), what="a 429 reported as rate-limited")
        sandbox.fail_next_connect(503, count=4)
        wait_for(lambda: any("HTTP 503" in e.detail for e in desk.events("retrying")), what="the 503s")
        replay(0)

        # 4. Garbage: an HTML page for a body (a server error, not an event), an item that is not a comment,
        # and Reddit's error body.
        sandbox.send_raw(b"<html>our CDN was unable to reach our servers")
        sandbox.push_raw({"kind": "t1", "data": {"id": "NOT-BASE36", "body": "u/Delta help"}})
        sandbox.error_frame(503, "Service Unavailable")
        sandbox.advance(15)
        wait_for(lambda: len(store_sink.quarantined()) >= 1, what="the garbage kept aside")
        replay(35)
    finally:
        desk.stop()

    expected = [t for t in sandbox.posted if about_desk(t)]
    assert len(expected) >= 50
    counts = stored_once(store_sink)
    assert set(counts) == {t.fullname for t in expected}
    assert max(counts.values()) == 1, "each mention stored exactly once"
    assert len(store_sink.handed) >= len(expected), "some came twice over the wire; the store kept one"

    reasons = [item.reason for item in store_sink.quarantined()]
    assert len(reasons) == 1, reasons
    assert "'NOT-BASE36' is not a base36 id" in reasons[0]
    assert any(
        "Reddit answered an HTML page (HTTP 200), not the API" in e.detail for e in desk.events("retrying")
    )
    assert any("error: Service Unavailable" in e.detail for e in desk.events("retrying"))
    statuses = Counter(str(r["status"]) for r in sandbox.requests)
    assert statuses["dropped"] == 4 and statuses["429"] >= 1 and statuses["503"] == 4


def test_mentions_are_normalised_into_threads(sandbox_thread, store_sink):
    sandbox = sandbox_thread.sandbox
    desk = Desk.start(fast_settings(sandbox_thread.base_url), [DESK], store_sink)
    try:
        wait_for(desk.polling, what="both sources caught up")
        sandbox.advance(60)
        expected = {t.fullname: t for t in sandbox.posted if about_desk(t)}
        wait_for(lambda: set(store_sink.native_ids()) == set(expected), what="the mentions")
    finally:
        desk.stop()
    with store_sink.store.read() as session:
        for mention in store_sink.mentions():
            thing = expected[mention.native_id]
            thread = session.get(Thread, mention.thread_id)
            identity = session.get(Identity, mention.identity_id)
            assert thread is not None and identity is not None
            assert thread.conversation_id == thing.conversation
            assert mention.reply_to_native_id == (thing.parent_id or None)
            assert mention.text == (thing.body if thing.kind == "t1" else thing.text)
            assert identity.handle == thing.author.username
            assert mention.is_own == thing.author.is_brand
            assert as_utc(mention.created_at) == thing.created
            assert mention.brand == "desk"
            assert mention.raw["data"]["name"] == thing.fullname
    # Conversations hold together: a submission and the comments under it share one thread.
    assert len({t.conversation for t in expected.values()}) < len(expected)
    # The corpus keeps X's HTML escapes; Reddit (raw_json=1) sends plain characters, and so they are stored.
    assert not any("&amp;" in m.text for m in store_sink.mentions())


def test_a_restart_catches_up_from_the_cursor_across_many_pages(sandbox_thread, store_sink):
    sandbox = sandbox_thread.sandbox
    settings = fast_settings(sandbox_thread.base_url, page_size=10, max_pages=100)
    first = Desk.start(settings, [DESK], store_sink)
    try:
        wait_for(first.polling, what="the first start")
        sandbox.advance(30)
        before = [t for t in sandbox.posted if about_desk(t)]
        wait_for(lambda: set(store_sink.native_ids()) == {t.fullname for t in before}, what="a first batch")
        newest_comment = max((t for t in before if t.kind == "t1"), key=lambda t: int(t.id, 36))
        wait_for(
            lambda: (
                store_sink.get_cursor(cursor_key("comments", "support"))
                == cursor_of(int(newest_comment.id, 36))
            ),
            what="the comments cursor at the newest stored comment",
        )
    finally:
        first.stop()

    # While earful is off: far more than one page of comments and submissions.
    missed = [t for t in sandbox.advance(200) if about_desk(t)]
    comments_missed = [t for t in sandbox.posted[-200:] if t.kind == "t1"]
    assert len(comments_missed) > 3 * settings.page_size
    requests_before = len(sandbox.requests)

    second = Desk.start(settings, [DESK], store_sink)
    try:
        wait_for(second.polling, timeout=15, what="the second start's catch-up")
        expected = {t.fullname for t in sandbox.posted if about_desk(t)}
        wait_for(lambda: set(store_sink.native_ids()) == expected, what="everything missed while off")
    finally:
        second.stop()
    assert missed and max(stored_once(store_sink).values()) == 1
    paged = [
        r
        for r in sandbox.requests[requests_before:]
        if r["path"].endswith("/comments/") and "after" in r["query"]
    ]
    assert len(paged) >= 3, "the catch-up paged back with after="
    # It stopped at the cursor rather than reading the whole listing.
    assert len(paged) < 200 // settings.page_size


def test_a_first_run_reads_one_page_and_starts_from_there(store_sink):
    server = start_sandbox(subreddits=["support"], preposted=120)
    try:
        sandbox = server.sandbox
        settings = fast_settings(server.base_url, page_size=25)
        desk = Desk.start(settings, [DESK], store_sink)
        try:
            wait_for(desk.polling, what="the first run")
            later = sandbox.push("u/Delta my bag never arrived", author="kim")
            wait_for(lambda: later.fullname in store_sink.native_ids(), what="a post after the first run")
        finally:
            desk.stop()
        listings = [r for r in sandbox.requests if r["path"].startswith("/r/support/")]
        assert not any("after" in r["query"] for r in listings), "a first run does not page back"
        newest = {t.fullname for t in sandbox.posted[:120] if t.kind == "t1"}
        comments = sorted((t for t in sandbox.posted[:120] if t.kind == "t1"), key=lambda t: int(t.id, 36))
        on_first_page = {t.fullname for t in comments[-25:] if about_desk(t)}
        stored = set(store_sink.native_ids())
        assert on_first_page <= stored
        assert not (newest - {t.fullname for t in comments[-25:]}) & stored
    finally:
        server.stop()
