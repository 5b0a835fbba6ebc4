"""Brand terms on Reddit: the same query language as every network, over a submission's title and text or a
comment's body; `u/name` counts as naming the account."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reddit_testkit import Desk, fast_settings, start_sandbox
from x_testkit import wait_for

from listener.config import BrandSettings
from listener.reddit_normalise import Item, RedditBrands, identify, to_mention
from listener.sandbox.reddit_wire import Thing
from listener.sandbox.replay import SandboxUser

pytestmark = pytest.mark.timeout(60)

ACME = BrandSettings(
    name="acme",
    terms=['acme AND (refund OR "late delivery") NOT job', "#acmefail"],
    accounts={"reddit": ["AcmeSupport"]},
)
GLOBEX = BrandSettings(name="globex", terms=["globex"], networks=["x", "mastodon"])


def item(thing: Thing) -> Item:
    return identify(thing.as_json(), thing.kind)


def test_terms_pick_the_same_posts_on_reddit_as_anywhere(store_sink):
    server = start_sandbox(subreddits=["support"])
    try:
        sandbox = server.sandbox
        desk = Desk.start(fast_settings(server.base_url), [ACME, GLOBEX], store_sink)
        try:
            wait_for(desk.polling, what="both sources caught up")
            wanted = [
                sandbox.push("still waiting for my ACME refund", author="ana"),
                sandbox.push("Where is it?", title="Acme late delivery, third time", author="ben"),
                sandbox.push("so done with this #AcmeFail", author="dee"),
                sandbox.push("u/AcmeSupport can you look at my order?", author="eve"),
            ]
            thread = wanted[0]
            answer = sandbox.push("Sorry! DM us your order.", reply_to=thread.fullname, author="AcmeSupport")
            wanted += [answer, sandbox.push("acme refund please", reply_to=answer.fullname, author="ana")]
            unwanted = [
                sandbox.push("the acme thing", title="Order 1234", author="cy"),  # acme, but no refund
                sandbox.push("acme refund job posting", author="hr"),  # NOT job
                sandbox.push("refunds are slow everywhere", author="fay"),  # no acme
                sandbox.push("acmerefund", author="gus"),  # words, not substrings
                sandbox.push("globex refund", author="hal"),  # globex does not listen on reddit
                sandbox.push("I called /u/AcmeSupportTeam instead", author="ian"),  # another account
            ]
            last = sandbox.push("acme refund, last one", author="ana")
            wait_for(lambda: last.fullname in store_sink.native_ids(), what="the last mention")
        finally:
            desk.stop()
    finally:
        server.stop()
    stored = {m.native_id: m for m in store_sink.mentions()}
    assert set(stored) == {t.fullname for t in [*wanted, last]}
    assert not {t.fullname for t in unwanted} & set(stored)
    assert all(m.brand == "acme" for m in stored.values())
    own = [m for m in stored.values() if m.is_own]
    assert [m.native_id for m in own] == [answer.fullname]


def test_normalised_fields_of_a_submission_and_a_comment():
    brands = RedditBrands([ACME])
    ana = SandboxUser(id="424242", username="ana", name="ana", followers=0, following=0, tweet_count=0)
    post = Thing(
        kind="t3",
        id="1abc",
        subreddit="support",
        author=ana,
        created=datetime(2024, 5, 13, 9, 15, 2, tzinfo=UTC),
        title="Acme refund?",
        selftext="Ordered <b>two</b> & got one",
    )
    reply = Thing(
        kind="t1",
        id="k9z",
        subreddit="support",
        author=ana,
        created=datetime(2024, 5, 13, 9, 16, tzinfo=UTC),
        body="acme refund > 0 please",
        link_id="t3_1abc",
        parent_id="t3_1abc",
    )
    first = to_mention(item(post), brands)
    second = to_mention(item(reply), brands)
    assert first is not None and second is not None
    assert first.native_id == first.conversation_id == "t3_1abc"
    assert first.text == "Acme refund?\n\nOrdered <b>two</b> & got one", (
        "kept as the text it is, never markup"
    )
    assert first.reply_to_native_id is None
    assert first.created_at == datetime(2024, 5, 13, 9, 15, 2, tzinfo=UTC)
    assert first.author.handle == "ana" and first.author.native_user_id.startswith("t2_")
    assert first.author.followers == 0
    assert second.native_id == "t1_k9z" and second.conversation_id == "t3_1abc"
    assert second.reply_to_native_id == "t3_1abc"
    assert second.raw["data"]["body"] == "acme refund > 0 please"
