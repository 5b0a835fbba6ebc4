"""X's polling sources against the sandbox: the brand account's mentions, polling mode's searches, and the
rate-limit budgets every call respects before X would answer 429."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from x_testkit import FASTER, supervise, wait_for, x_settings

from listener.config import BrandSettings
from listener.sandbox.replay import SandboxTweet
from listener.x import build_sources, cursor_key, mentions_key
from listener.x_polling import XMentionsPoller, XSearchPoller
from listener.x_rules import brand_rules

pytestmark = pytest.mark.timeout(60)

ACME = BrandSettings(name="acme", terms=['"my order"'], accounts={"x": ["AcmeHelp"]})
DESK = BrandSettings(name="desk", accounts={"x": ["AmazonHelp", "AppleSupport", "Delta"]})
RULE = brand_rules(DESK)[0].value
MENTIONS = mentions_key("AcmeHelp")
LOOKUP = "/2/users/by/username/AcmeHelp"


def requests_to(sandbox, path_end: str) -> list[dict]:
    return [r for r in sandbox.requests if r["path"].endswith(path_end)]


def test_sources_per_mode_and_account():
    settings = x_settings("http://127.0.0.1:9", mentions=True)
    streamed = build_sources(settings, [ACME, DESK])
    assert [s.name for s in streamed] == [
        "x:stream",
        "x:mentions:AcmeHelp",
        "x:mentions:AmazonHelp",
        "x:mentions:AppleSupport",
        "x:mentions:Delta",
    ]
    polled = build_sources(settings.model_copy(update={"mode": "poll"}), [ACME, DESK])
    assert [s.name for s in polled if isinstance(s, XSearchPoller)] == [
        cursor_key("acme"),
        cursor_key("desk"),
    ]
    assert all(s.stall_after > settings.poll_seconds for s in polled)
    assert build_sources(settings, [ACME.model_copy(update={"networks": ["mastodon"]})]) == []
    with pytest.raises(ValueError, match="(?i)@acmehelp is listed by brands .acme. and .other."):
        build_sources(settings, [ACME, BrandSettings(name="other", accounts={"x": ["acmehelp"]})])
    with pytest.raises(ValueError, match="bearer_token"):
        build_sources(settings.model_copy(update={"bearer_token": None}), [ACME])


def test_mentions_are_polled_from_their_cursor_through_failures_and_a_restart(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    sandbox = server.sandbox
    # A first start reads back through pages of 100, oldest handed over first.
    earlier = [sandbox.push(f"@AcmeHelp parcel {i} never came", author=f"cust{i % 9}") for i in range(130)]
    sandbox.push("nothing to do with anyone")
    settings = x_settings(server.base_url, mentions=True, mode="poll", poll_seconds=0.05)

    def mentions_source():
        return [s for s in build_sources(settings, [ACME], policy=FASTER) if isinstance(s, XMentionsPoller)]

    with supervise(mentions_source(), store_sink) as running:
        wait_for(lambda: "polling" in running.states(MENTIONS), what="the first poll")
        assert set(store_sink.native_ids()) == {t.id for t in earlier}
        assert store_sink.get_cursor(MENTIONS) == earlier[-1].id

        # A reply to the brand is a mention too, @handle in the text or not.
        ours = sandbox.push("We are sorry to hear that, DM us", author="AcmeHelp")
        reply = sandbox.push("done, thanks", author="cust1", in_reply_to=ours.id)
        wait_for(lambda: reply.id in store_sink.native_ids(), what="the reply to the brand")
        assert ours.id not in store_sink.native_ids(), "the brand's own post mentions no one"

        # X fails a poll with 503, then with 429 (its window resets within a second or two).
        sandbox.set_rate_limit("mentions", 100, limit=100, window=1.0)
        sandbox.fail_next_calls("mentions", 503, 429)
        late = sandbox.push("@AcmeHelp still waiting on parcel 7", author="cust7")
        wait_for(
            lambda: late.id in store_sink.native_ids(), timeout=10, what="the mention after the failures"
        )
        states = running.states(MENTIONS)
        assert "retrying" in states and "rate-limited" in states
        assert any("HTTP 503" in e.detail for e in running.events(MENTIONS))

    # The id was asked for once; the failed sessions kept it.
    assert len(requests_to(sandbox, LOOKUP)) == 1
    polls = requests_to(sandbox, "/mentions")
    assert "since_id" not in polls[0]["query"] and all("since_id" in r["query"] for r in polls[2:])
    assert store_sink.get_cursor(MENTIONS) == late.id

    # Restart: the mentions posted while earful was off are fetched from the stored cursor.
    missed = [sandbox.push(f"@AcmeHelp while you were away {i}", author="cust2") for i in range(3)]
    before = len(requests_to(sandbox, "/mentions"))
    with supervise(mentions_source(), store_sink) as running:
        wait_for(lambda: "polling" in running.states(MENTIONS), what="the first poll after the restart")
    assert {t.id for t in missed} <= set(store_sink.native_ids())
    first = requests_to(sandbox, "/mentions")[before]
    assert int(first["query"]["since_id"]) <= int(late.id)

    stored = store_sink.mentions()
    assert len(stored) == len({m.native_id for m in stored}) == len(earlier) + 2 + len(missed)
    assert all(m.brand == "acme" and not m.is_own for m in stored)
    assert {m.raw["mentions_of"] for m in stored} == {"AcmeHelp"}


def test_an_unknown_account_is_an_error_that_names_the_brand(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False)
    settings = x_settings(server.base_url, mentions=True, mode="poll")
    brand = BrandSettings(name="ghost", accounts={"x": ["NoSuchBrand"]})
    sources = [s for s in build_sources(settings, [brand], policy=FASTER) if isinstance(s, XMentionsPoller)]
    with supervise(sources, store_sink) as running:
        wait_for(lambda: "error" in running.states("x:mentions:NoSuchBrand"), what="the error")
        [error] = [e for e in running.events("x:mentions:NoSuchBrand") if e.state == "error"]
    assert "X has no account @NoSuchBrand" in error.detail and "'ghost'" in error.detail


def test_polling_mode_keeps_the_streams_cursor_and_loses_nothing(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    # The stream's tweets never move the cursor; its reconciliation's search does (here every 0.2 s).
    stream_settings = x_settings(server.base_url, reconcile_seconds=0.2)
    with supervise(build_sources(stream_settings, [DESK], policy=FASTER), store_sink) as running:
        wait_for(lambda: "streaming" in running.states("x:stream"), what="the stream")
        sandbox.advance(100)
        streamed = {t.id for t in sandbox.matching(RULE)}
        wait_for(lambda: set(store_sink.native_ids()) == streamed, what="the streamed mentions")
        newest = max(streamed, key=int)
        wait_for(lambda: store_sink.get_cursor(cursor_key("desk")) == newest, what="the reconciled cursor")
    cursor = store_sink.get_cursor(cursor_key("desk"))
    assert cursor in streamed

    # The same brand, switched to polling mode: it asks from where the stream's cursor stands.
    settings = stream_settings.model_copy(update={"mode": "poll", "poll_seconds": 0.05})
    sandbox.advance(100)
    with supervise(build_sources(settings, [DESK], policy=FASTER), store_sink) as running:
        first_search = len(requests_to(sandbox, "/search/recent"))
        for _ in range(4):
            sandbox.advance(50)
        sandbox.set_rate_limit("search", 100, limit=100, window=1.0)
        sandbox.fail_next_calls("search", 503, 429)
        sandbox.advance(50)
        expected = {t.id for t in sandbox.matching(RULE)}
        wait_for(lambda: set(store_sink.native_ids()) == expected, timeout=10, what="every mention stored")
        assert {"retrying", "rate-limited", "polling"} <= set(running.states(cursor_key("desk")))
    searches = requests_to(sandbox, "/search/recent")[first_search:]
    assert int(searches[0]["query"]["since_id"]) <= int(cursor)
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)) == len(expected) > len(streamed)
    assert store_sink.get_cursor(cursor_key("desk")) == max(expected, key=int)


def test_a_spent_budget_pauses_until_its_reset_instead_of_drawing_a_429(sandbox_factory, store_sink):
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    sandbox = server.sandbox
    # Three calls a second for each family; the pollers would make dozens.
    sandbox.set_rate_limit("search", 3, limit=3, window=1.0)
    sandbox.set_rate_limit("mentions", 3, limit=3, window=1.0)
    settings = x_settings(server.base_url, mode="poll", mentions=True, poll_seconds=0.01)
    sources = build_sources(settings, [ACME], policy=FASTER)
    pushed: list[SandboxTweet] = []
    names = (cursor_key("acme"), MENTIONS)
    with supervise(sources, store_sink) as running:

        def pauses(name: str) -> list:
            return [e for e in running.events(name) if e.state == "rate-limited"]

        # Mentions keep coming until each source has waited out its budget twice.
        deadline = time.monotonic() + 20
        while min(len(pauses(name)) for name in names) < 2:
            assert time.monotonic() < deadline, "the sources never paused twice"
            pushed.append(sandbox.push(f"@AcmeHelp my order {len(pushed)} is late", author="pat"))
            wait_for(lambda: pushed[-1].id in store_sink.native_ids(), timeout=5, what="the newest mention")
        for name in names:
            assert all(e.until is not None and "budget spent" in e.detail for e in pauses(name))
            assert all(e.until is not None and e.until <= datetime.now(UTC) for e in pauses(name)[:-1])
    assert [r for r in sandbox.requests if r["status"] == 429] == [], "no call was refused"
    # More calls than one window allows: each pause ended at the reset and polling went on.
    assert len(requests_to(sandbox, "/search/recent")) > 3 and len(requests_to(sandbox, "/mentions")) > 3
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored)) == len(pushed)
