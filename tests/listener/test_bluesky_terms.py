"""Which Bluesky posts a brand hears, and how they thread: the same term language as every network, on Jetstream
and on search alike."""

from __future__ import annotations

import pytest
from sqlmodel import select
from x_testkit import wait_for

from listener.bluesky import JETSTREAM_SOURCE, build_sources, cursor_key, search_queries
from listener.config import BrandSettings
from listener.sandbox.bluesky import sandbox_settings
from store.models import Mention, Thread

pytestmark = pytest.mark.timeout(60)

ACME = BrandSettings(
    name="acme",
    terms=['acme AND (refund OR "late delivery") NOT job', "#acmefail", "from:critic.bsky.social acme"],
    accounts={"bluesky": ["acmehelp.bsky.social"]},
)
# Listens only on X: its terms must not pull Bluesky posts in.
X_ONLY = BrandSettings(name="globex", terms=["refund"], networks=["x"])


def by_uri(store_sink) -> dict[str, Mention]:
    with store_sink.store.read() as session:
        return {m.native_id: m for m in session.exec(select(Mention))}


def conversation(store_sink, mention: Mention) -> str:
    with store_sink.store.read() as session:
        thread = session.get(Thread, mention.thread_id)
        assert thread is not None
        return thread.conversation_id


def test_search_hears_by_the_brand_terms_and_accounts(bluesky_server, run_bluesky, store_sink):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    sandbox.account("acmehelp.bsky.social")
    sandbox.fail_next_connect(503, count=10_000)  # Jetstream down: search alone must get it right
    posts = {
        "refund": sandbox.push("acme still owes me a refund", author="ann"),
        "phrase": sandbox.push("ACME! Late delivery again.", author="bob"),
        "tag": sandbox.push("third time this week #AcmeFail", author="cat"),
        "critic": sandbox.push("acme is fine, actually", author="critic.bsky.social"),
        "handle": sandbox.push("hey @acmehelp.bsky.social where is my parcel", author="dan"),
        "job": sandbox.push("acme job offer: refund clerk", author="eve"),
        "words": sandbox.push("acme late for the delivery", author="fay"),
        "other": sandbox.push("my refund from globex", author="gus"),
        "late": sandbox.push("late delivery of my acme order? no, it came early", author="hal"),
    }
    answer = sandbox.push(
        "Sorry about that, we are on it.", author="acmehelp.bsky.social", in_reply_to=posts["job"].uri
    )
    follow_up = sandbox.push("thanks, waiting", author="eve", in_reply_to=answer.uri)
    run_bluesky(server, [ACME, X_ONLY])
    wanted = {"refund", "phrase", "tag", "critic", "handle", "late"}
    expected = {posts[name].uri for name in wanted} | {answer.uri, follow_up.uri}
    wait_for(lambda: set(by_uri(store_sink)) >= expected, what="every matching post")
    stored = by_uri(store_sink)
    assert set(stored) == expected, "no other post (a job ad, the words apart, another brand's) got in"
    assert {m.brand for m in stored.values()} == {"acme"}
    own = [uri for uri, m in stored.items() if m.is_own]
    assert own == [answer.uri], "the brand's own reply is part of the thread, not an inbox item"
    # A reply to the brand carries no @handle on Bluesky; it is heard because it answers the brand.
    assert conversation(store_sink, stored[follow_up.uri]) == posts["job"].uri
    assert stored[follow_up.uri].reply_to_native_id == answer.uri
    assert not sandbox.delivered and store_sink.get_cursor(cursor_key("acme")) is not None


def test_jetstream_hears_live_posts_by_the_same_rules_and_threads_them(
    bluesky_server, run_bluesky, store_sink
):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    sandbox.account("acmehelp.bsky.social")
    running = run_bluesky(server, [ACME, X_ONLY])
    wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream live")
    root = sandbox.push("acme lost my parcel, refund please", author="ann")
    noise = sandbox.push("refund me, globex", author="gus")
    job = sandbox.push("acme job: refund desk", author="eve")
    critic = sandbox.push("acme again", author="critic.bsky.social")
    answer = sandbox.push("So sorry! DM us?", author="acmehelp.bsky.social", in_reply_to=root.uri)
    deeper = sandbox.push("done", author="ann", in_reply_to=answer.uri)
    sandbox.identity("ann")  # identity events and deletes are skipped, never put aside
    sandbox.delete(noise.uri)
    last = sandbox.push("#acmefail", author="ben")
    expected = {root.uri, answer.uri, deeper.uri, last.uri, critic.uri}
    wait_for(lambda: set(by_uri(store_sink)) >= expected, what="the live posts")
    assert job.uri in sandbox.delivered
    stored = by_uri(store_sink)
    assert set(stored) == expected
    assert set(sandbox.delivered) >= expected
    assert conversation(store_sink, stored[deeper.uri]) == root.uri, "the root stays the thread's root"
    assert stored[deeper.uri].reply_to_native_id == answer.uri, "the parent is the post answered"
    assert stored[answer.uri].is_own and not stored[root.uri].is_own
    assert not store_sink.quarantined()


def test_search_queries_cover_each_term_with_the_fewest_plain_queries():
    queries, unsearchable = search_queries(
        BrandSettings(
            name="b",
            terms=['acme AND (refund OR "late delivery") NOT job', "(a OR b) c", "lang:en", "x -y"],
            accounts={"bluesky": ["b.bsky.social"]},
        )
    )
    assert queries == [
        "from:b.bsky.social",
        "mentions:b.bsky.social",
        "to:b.bsky.social",
        "acme",
        "c",
        "x",
    ]
    assert unsearchable == ["lang:en"]


def test_no_sources_for_brands_that_do_not_listen_on_bluesky():
    settings = sandbox_settings("http://127.0.0.1:1")
    assert build_sources(settings, [X_ONLY]) == []
    assert build_sources(settings.model_copy(update={"enabled": False}), [ACME]) == []
    names = [source.name for source in build_sources(settings, [ACME, X_ONLY])]
    assert names == [JETSTREAM_SOURCE, cursor_key("acme")]
