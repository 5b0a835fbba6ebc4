"""The fake X API itself: the wire shapes tweepy relies on, search paging, rules, ids and replay order."""

from __future__ import annotations

import re
import time

import aiohttp
import pytest
import requests
import tweepy
from x_testkit import BEARER, wait_for

from listener.sandbox.replay import TWEPOCH_MS, Directory, load_rows
from listener.sandbox.x import XSandbox
from listener.transport import redirect

AUTH = {"Authorization": f"Bearer {BEARER}"}
FIELDS = {
    "expansions": "author_id",
    "tweet.fields": "created_at,conversation_id",
    "user.fields": "public_metrics",
}


def search(base_url: str, **params: str) -> requests.Response:
    return requests.get(f"{base_url}/2/tweets/search/recent", params=params, headers=AUTH, timeout=5)


def test_replayed_tweets_get_new_snowflake_ids_and_current_times(sandbox_factory):
    server = sandbox_factory(replay=False, preposted=50)
    posted = server.sandbox.posted
    ids = [int(t.id) for t in posted]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert all(len(str(i)) == 19 for i in ids)
    for tweet in posted:
        assert abs(((int(tweet.id) >> 22) + TWEPOCH_MS) - tweet.created_at.timestamp() * 1000) < 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", tweet.created_at_iso)
        if tweet.in_reply_to_id is not None:
            parent = server.sandbox.tweet(tweet.in_reply_to_id)
            assert parent is not None and int(parent.id) < int(tweet.id)
            assert tweet.conversation_id == parent.conversation_id
        assert tweet.author.is_brand or tweet.author.username.startswith("user")


def test_bundled_data_replays_parents_before_replies():
    rows = load_rows()
    assert len(rows) == 5000
    seen: set[int] = set()
    for row in rows:
        assert row.in_response_to_tweet_id is None or row.in_response_to_tweet_id in seen
        seen.add(row.tweet_id)


def test_synthetic_people_are_deterministic_and_heavy_tailed():
    first, second = Directory(), Directory()
    assert first.customer("115712") == second.customer("115712")
    followers = sorted(first.customer(str(n)).followers for n in range(100_000, 102_000))
    assert 100 < followers[len(followers) // 2] < 1000
    assert followers[-1] > 10_000


def test_search_pages_newest_first_with_meta(sandbox_factory):
    server = sandbox_factory(replay=False, preposted=1500)
    query = "@AmazonHelp OR from:AmazonHelp OR @AppleSupport OR from:AppleSupport"
    expected = [t.id for t in reversed(server.sandbox.matching(query))]
    assert len(expected) > 100

    pages, token = [], None
    while True:
        params = {"query": query, "max_results": "100", **FIELDS}
        if token:
            params["next_token"] = token
        response = search(server.base_url, **params)
        assert response.status_code == 200
        assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(response.headers)
        body = response.json()
        ids = [t["id"] for t in body["data"]]
        assert body["meta"]["newest_id"] == ids[0] and body["meta"]["oldest_id"] == ids[-1]
        assert body["meta"]["result_count"] == len(ids)
        assert all("public_metrics" in user for user in body["includes"]["users"])
        pages.append(ids)
        token = body["meta"].get("next_token")
        if not token:
            break
    assert [i for page in pages for i in page] == expected

    since = search(server.base_url, query=query, since_id=expected[5], max_results="10").json()
    assert [t["id"] for t in since["data"]] == expected[:5]
    assert search(server.base_url, query=query, since_id=expected[0]).json() == {"meta": {"result_count": 0}}
    assert search(server.base_url, query=query, max_results="5").status_code == 400
    assert search(server.base_url, query="(unbalanced").status_code == 400


def test_rules_add_dry_run_duplicates_and_delete(sandbox_factory):
    server = sandbox_factory(replay=False)
    client = redirect(tweepy.StreamingClient(BEARER, return_type=dict), server.base_url)
    dry = client.add_rules(tweepy.StreamRule("acme", tag="brand:acme"), dry_run=True)
    assert dry["meta"]["summary"]["created"] == 1 and server.sandbox.rules == []

    added = client.add_rules([tweepy.StreamRule("acme", tag="brand:acme"), tweepy.StreamRule("-only")])
    assert added["meta"]["summary"] == {"created": 1, "not_created": 1, "valid": 1, "invalid": 1}
    duplicate = client.add_rules(tweepy.StreamRule("acme", tag="brand:other"))
    assert duplicate["errors"][0]["title"] == "DuplicateRule"

    [rule] = client.get_rules()["data"]
    assert rule == {"id": rule["id"], "value": "acme", "tag": "brand:acme"}
    deleted = client.delete_rules([rule["id"], "999"])
    assert deleted["meta"]["summary"] == {"deleted": 1, "not_deleted": 1}
    empty = client.get_rules()
    assert "data" not in empty and empty["meta"]["result_count"] == 0


def test_stream_and_rules_need_a_bearer_token(sandbox_factory):
    server = sandbox_factory(replay=False)
    for path in ("/2/tweets/search/stream", "/2/tweets/search/stream/rules", "/2/tweets/search/recent"):
        assert requests.get(server.base_url + path, timeout=5).status_code == 401
    assert [r["auth"] for r in server.sandbox.requests] == [None, None, None]


async def test_runs_inside_a_running_loop_and_streams_tweepy_shaped_lines():
    sandbox = XSandbox(replay=False, keepalive=0.05, brands=["AcmeCo"])
    base_url = await sandbox.start(port=0)
    try:
        async with aiohttp.ClientSession(headers=AUTH) as session:
            rules = {"add": [{"value": "@AcmeCo", "tag": "brand:acme"}]}
            async with session.post(f"{base_url}/2/tweets/search/stream/rules", json=rules) as response:
                assert response.status == 200
            async with session.get(f"{base_url}/2/tweets/search/stream", params=FIELDS) as stream:
                assert stream.status == 200
                assert await stream.content.readline() == b"\r\n", "a keep-alive first"
                pushed = sandbox.push("@acmeco my parcel is lost", author="janedoe")
                sandbox.push("nothing to do with it", author="janedoe")
                line = await stream.content.readline()
                while line == b"\r\n":
                    line = await stream.content.readline()
        assert line.endswith(b"\r\n")
        response = tweepy.StreamingClient(BEARER)
        response.on_response = lambda parsed: captured.append(parsed)  # type: ignore[method-assign]
        captured: list[tweepy.StreamResponse] = []
        response.on_data(line)
        [parsed] = captured
        assert parsed.data.id == int(pushed.id)
        assert parsed.includes["users"][0].username == "janedoe"
        assert parsed.includes["users"][0].public_metrics["followers_count"] == pushed.author.followers
        assert parsed.matching_rules[0].tag == "brand:acme"
    finally:
        await sandbox.stop()


@pytest.mark.parametrize("pace", [0, -1])
def test_pace_must_be_positive(pace):
    with pytest.raises(ValueError):
        XSandbox(pace=pace)


def test_repeat_starts_the_corpus_over_with_new_ids():
    sandbox = XSandbox(replay=False, limit=5, repeat=True)
    first, second = sandbox.advance(5), sandbox.advance(5)
    assert [t.text for t in first] == [t.text for t in second]
    assert not {t.id for t in first} & {t.id for t in second}
    assert {t.conversation_id for t in second} <= {t.id for t in second}


def test_replay_holds_let_conversations_unfold_at_a_human_rhythm():
    from listener.sandbox.replay import Directory, Replay, ReplayRow, Snowflakes

    rows = [
        ReplayRow(1, "101", True, "@AcmeHelp my order is late", None),
        ReplayRow(2, "AcmeHelp", False, "@101 sorry! DM us", 1),
        ReplayRow(3, "102", True, "@AcmeHelp love the new app", None),
        ReplayRow(4, "101", True, "@AcmeHelp done", 2),
    ]
    replay = Replay(rows, Directory(()), holds=(5.0, 10.0))
    ids = Snowflakes()

    def text(now: float) -> str | None:
        tweet = replay.next_tweet(ids, now)
        return tweet.text if tweet else None

    # The brand's answer waits 10 s after the complaint; a new conversation does not wait behind it.
    assert [text(0), text(0), text(0)] == ["@AcmeHelp my order is late", "@AcmeHelp love the new app", None]
    assert text(9.9) is None
    assert text(10) == "@user101 sorry! DM us"
    assert text(14) is None
    assert text(15) == "@AcmeHelp done"
    assert replay.remaining == 0


def test_without_holds_the_replay_keeps_corpus_order():
    from listener.sandbox.replay import Directory, Replay, Snowflakes, load_rows

    rows = load_rows()[:300]
    replay = Replay(rows, Directory(()))
    ids = Snowflakes()
    posted = [replay.next_tweet(ids, now=0.0) for _ in rows]
    assert all(t is not None for t in posted)
    originals = {t.id: r for t, r in zip(posted, rows, strict=True)}
    assert [originals[t.id].tweet_id for t in posted] == [r.tweet_id for r in rows]


def test_preposted_history_is_dated_back_from_now_in_order():
    import time

    from listener.sandbox.x import XSandboxThread

    server = XSandboxThread(replay=False, preposted=20, history_spacing=60.0)
    server.start()
    try:
        posted = server.sandbox.posted
    finally:
        server.stop()
    ages = [time.time() - t.created_at.timestamp() for t in posted]
    assert len(posted) == 20
    assert 1140 <= ages[0] <= 1260 and ages[-1] <= 120
    assert [int(t.id) for t in posted] == sorted(int(t.id) for t in posted)
    assert all(a > b for a, b in zip(ages, ages[1:], strict=False))


def test_users_by_username_and_their_mentions_timeline_through_tweepy(sandbox_factory):
    server = sandbox_factory(replay=False, brands=["AcmeHelp"])
    sandbox = server.sandbox
    client = redirect(tweepy.Client(bearer_token=BEARER, return_type=dict), server.base_url)
    user = client.get_user(username="AcmeHelp", user_fields=["public_metrics"])["data"]
    assert user["username"] == "AcmeHelp" and user["public_metrics"]["followers_count"] > 0
    missing = client.get_user(username="nobody_here")
    assert "data" not in missing and missing["errors"][0]["title"] == "Not Found Error"
    with pytest.raises(tweepy.BadRequest):
        client.get_user(username="not a handle")

    mentions = [sandbox.push(f"@acmehelp order {i}", author="pat") for i in range(12)]
    ours = sandbox.push("How can we help?", author="AcmeHelp")
    reply = sandbox.push("my order is late", author="sam", in_reply_to=ours.id)
    sandbox.push("@SomeoneElse hello", author="pat")
    newest_first = [reply.id, *(t.id for t in reversed(mentions))]

    pages, token = [], None
    while True:
        params = {"max_results": 5, "expansions": ["author_id"], "tweet_fields": ["created_at"]}
        page = client.get_users_mentions(user["id"], pagination_token=token, **params)
        pages.append([t["id"] for t in page["data"]])
        assert page["meta"]["newest_id"] == pages[-1][0] and page["includes"]["users"]
        token = page["meta"].get("next_token")
        if not token:
            break
    assert [i for page in pages for i in page] == newest_first
    since = client.get_users_mentions(user["id"], since_id=mentions[9].id)
    assert [t["id"] for t in since["data"]] == newest_first[:3]

    requests_made = [r for r in sandbox.requests if "/2/users/" in r["path"]]
    assert all(r["auth"] == "bearer" for r in requests_made)
    response = requests.get(f"{server.base_url}/2/users/{user['id']}/mentions", headers=AUTH, timeout=5)
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(response.headers)
    assert response.headers["x-rate-limit-limit"] == "450"


def test_scripted_budgets_and_failures_per_endpoint_family(sandbox_factory):
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    sandbox.set_rate_limit("search", 1, limit=1, window=1.0)
    first = search(server.base_url, query="acme", max_results="10")
    assert first.status_code == 200 and first.headers["x-rate-limit-remaining"] == "0"
    reset = int(first.headers["x-rate-limit-reset"])
    assert 0 < reset - time.time() <= 2.0, "the reset is whole epoch seconds, at most a window away"
    assert search(server.base_url, query="acme", max_results="10").status_code == 429
    wait_for(lambda: time.time() >= reset, what="the window to end")
    assert search(server.base_url, query="acme", max_results="10").status_code == 200

    # Scripted failures come first and spend nothing: the one call left still succeeds after them.
    sandbox.set_rate_limit("search", 1)
    sandbox.fail_next_calls("search", 503, 429)
    assert [search(server.base_url, query="acme", max_results="10").status_code for _ in range(3)] == [
        503,
        429,
        200,
    ]
