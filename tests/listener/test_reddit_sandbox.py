"""The Reddit sandbox speaks Reddit as praw expects it: listings, paging, replay, budget, faults."""

from __future__ import annotations

import json

import prawcore
import pytest
import requests
from reddit_testkit import BIG_BUDGET, start_sandbox
from x_testkit import wait_for

from listener.reddit_client import RedditClient
from listener.sandbox.reddit import sandbox_settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server():
    server = start_sandbox(subreddits=["support", "help"])
    yield server
    server.stop()


@pytest.fixture
def client(server) -> RedditClient:
    return RedditClient(sandbox_settings(server.base_url))


def names(body) -> list[str]:
    return [child["data"]["name"] for child in body["data"]["children"]]


def test_replayed_conversations_look_like_reddit_threads(server, client):
    sandbox = server.sandbox
    things = sandbox.advance(80)
    assert {t.subreddit for t in things} == {"support", "help"}
    by_name = {t.fullname: t for t in things}
    for thing in things:
        assert "&amp;" not in thing.text and "@" + thing.author.username not in thing.text
        if thing.kind == "t1":
            root = by_name[thing.link_id]
            assert root.kind == "t3" and root.subreddit == thing.subreddit
            assert thing.parent_id in by_name
    assert any("u/" in t.text for t in things), "X's @handles became Reddit's u/handles"

    # praw's own models read what the sandbox sends.
    submission = next(t for t in things if t.kind == "t3")
    fetched = client.reddit.submission(submission.id)
    assert fetched.title == submission.title and fetched.author.name == submission.author.username
    newest = next(iter(client.reddit.subreddit(submission.subreddit).comments(limit=1)))
    assert (
        newest.fullname
        == max(
            (t for t in things if t.kind == "t1" and t.subreddit == submission.subreddit),
            key=lambda t: int(t.id, 36),
        ).fullname
    )


def test_listings_page_the_way_reddit_pages_them(server, client):
    sandbox = server.sandbox
    comments = [sandbox.push(f"comment {i}", reply_to=sandbox.push("post").fullname) for i in range(12)]
    newest_first = [t.fullname for t in reversed(comments)]
    first = client.get("/r/support/comments/", {"limit": 5})
    assert names(first) == newest_first[:5] and first["data"]["after"] == newest_first[4]
    second = client.get("/r/support/comments/", {"limit": 5, "after": first["data"]["after"]})
    assert names(second) == newest_first[5:10]
    last = client.get("/r/support/comments/", {"limit": 5, "after": newest_first[9]})
    assert names(last) == newest_first[10:] and last["data"]["after"] is None
    # before= gives the items just newer than the anchor, still newest first.
    assert (
        names(client.get("/r/support/comments/", {"limit": 3, "before": newest_first[9]}))
        == newest_first[6:9]
    )
    assert names(client.get("/r/support/comments/", {"limit": 3, "after": "t1_nosuchthing"})) == []
    assert len(names(client.get("/r/support/new", {"limit": 100}))) == 12


def test_the_budget_is_told_in_headers_and_enforced(server, client):
    sandbox = server.sandbox
    client.get("/r/support/new", {"limit": 1})
    headers = client.last_headers
    assert float(headers["x-ratelimit-remaining"]) == BIG_BUDGET - 1 and headers["x-ratelimit-used"] == "1"
    assert 0 < int(headers["x-ratelimit-reset"]) <= 600
    sandbox.set_rate_limit(0, reset_in=30)
    with pytest.raises(prawcore.TooManyRequests) as refused:
        client.get("/r/support/new", {"limit": 1})
    assert refused.value.response.headers["x-ratelimit-reset"] in {"29", "30"}


def test_credentials_never_reach_the_request_log(server, client):
    sandbox = server.sandbox
    client.get("/r/support/new", {"limit": 1})
    logged = json.dumps(sandbox.requests)
    assert "sandbox-secret" not in logged and '"password":' not in logged
    token = [r for r in sandbox.requests if r["path"] == "/api/v1/access_token"]
    assert token and token[0]["auth"] == "basic" and token[0]["form"]["grant_type"] == "password"


def test_faults_act_on_the_next_answers(server, client):
    sandbox = server.sandbox
    sandbox.push("hello")
    sandbox.send_raw(b"not json at all")
    with pytest.raises(prawcore.BadJSON):
        client.get("/r/support/new", {"limit": 1})
    sandbox.error_frame(500, "Internal Server Error")
    assert client.get("/r/support/new", {"limit": 1}) == {"message": "Internal Server Error", "error": 500}
    sandbox.push_raw({"kind": "t1", "data": {"id": "???"}})
    assert client.get("/r/support/comments/", {"limit": 5})["data"]["children"] == [
        {"kind": "t1", "data": {"id": "???"}}
    ]
    sandbox.drop(count=2)
    with pytest.raises(prawcore.RequestException):
        client.get("/r/support/new", {"limit": 1})
    assert [r["status"] for r in sandbox.requests[-2:]] == ["dropped", "dropped"]
    assert names(client.get("/r/support/new", {"limit": 1}))


def test_the_replay_runs_at_its_pace_and_pauses():
    server = start_sandbox(replay=True, pace=200, limit=40, paused=True)
    try:
        sandbox = server.sandbox
        assert sandbox.posted == []
        sandbox.resume()
        wait_for(lambda: len(sandbox.posted) == 40, what="the whole replay")
    finally:
        server.stop()


def test_a_lone_surrogate_breaks_nothing_for_later_requests(server, client):
    """A comment with a lone surrogate once made every listing that held it a 500, for every later poll: the
    sandbox writes it as a JSON escape (valid UTF-8), which reads back as the same text."""
    sandbox = server.sandbox
    post = sandbox.push("a post")
    odd = sandbox.push("odd \ud800 text", reply_to=post.fullname)
    for _ in range(2):
        listing = client.get("/r/support/comments/", {"limit": 5})
        assert [child["data"]["body"] for child in listing["data"]["children"]] == [odd.text]
    # A form with bytes that are no UTF-8 at all: an answer, and nothing left broken.
    thing = post.fullname.encode()
    answer = requests.post(
        f"{server.base_url}/api/comment",
        data=b"thing_id=" + thing + b"&text=%ED%A0%80+bad+bytes",
        headers={
            "Authorization": "bearer " + next(iter(sandbox._tokens)),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert answer.status_code == 200
    assert len(client.get("/r/support/comments/", {"limit": 5})["data"]["children"]) == 2
    assert client.get("/r/support/new", {"limit": 5})["data"]["children"]
