"""The Bluesky sandbox speaks the wire formats real clients expect (websockets, atproto), and the collector's
frame parser knows good events from garbage."""

from __future__ import annotations

import json

import pytest
import requests
from atproto import Client, models
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from listener.bluesky_normalise import Malformed, parse_frame

pytestmark = pytest.mark.timeout(30)


def subscribe(sandbox, cursor: int | None = None):
    query = "wantedCollections=app.bsky.feed.post" + (f"&cursor={cursor}" if cursor is not None else "")
    return connect(f"{sandbox.jetstream_url}/subscribe?{query}", open_timeout=5)


def test_jetstream_sends_v1_events_and_replays_from_a_cursor(bluesky_server):
    sandbox = bluesky_server(replay=False, preposted=6).sandbox
    history = sandbox.posted
    with subscribe(sandbox, cursor=history[2].time_us) as ws:
        events = [json.loads(ws.recv(timeout=5)) for _ in range(4)]
    assert [e["time_us"] for e in events] == [p.time_us for p in history[2:6]]
    event = events[0]
    post = history[2]
    assert event["kind"] == "commit" and event["did"] == post.author.did
    commit = event["commit"]
    assert commit["operation"] == "create" and commit["collection"] == "app.bsky.feed.post"
    assert f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}" == post.uri
    assert commit["record"]["text"] == post.text and commit["record"]["langs"] == ["en"]
    replies = [e for e in events if "reply" in e["commit"]["record"]]
    assert all(set(e["commit"]["record"]["reply"]) == {"root", "parent"} for e in replies)

    # Without a cursor: live only.
    with subscribe(sandbox) as ws:
        pushed = sandbox.push("live one")
        assert json.loads(ws.recv(timeout=5))["time_us"] == pushed.time_us


def test_jetstream_faults_reach_a_real_websocket_client(bluesky_server):
    sandbox = bluesky_server(replay=False).sandbox
    sandbox.fail_next_connect(429)
    sandbox.fail_next_connect(503)
    for status in (429, 503):
        with pytest.raises(InvalidStatus) as refused:
            subscribe(sandbox).close()
        assert refused.value.response.status_code == status
    with subscribe(sandbox) as ws:
        sandbox.send_raw("not json")
        assert ws.recv(timeout=5) == "not json"
        sandbox.error_frame("OutdatedCursor", "cursor too old", code=1008)
        assert json.loads(ws.recv(timeout=5)) == {"error": "OutdatedCursor", "message": "cursor too old"}
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_xrpc_answers_atproto_client_with_rate_limit_headers(bluesky_server):
    server = bluesky_server(replay=False, preposted=40)
    sandbox = server.sandbox
    client = Client(base_url=server.base_url)
    profile = client.login("delta.bsky.social", "any password")
    assert profile is not None and profile.handle == "delta.bsky.social" and profile.followers_count
    assert client._session is not None and client._session.access_jwt_payload.exp

    mentions = [p for p in reversed(sandbox.posted) if "@delta.bsky.social" in p.text]
    assert len(mentions) >= 2
    response = client.invoke_query(
        "app.bsky.feed.searchPosts",
        params=models.AppBskyFeedSearchPosts.Params(q="mentions:delta.bsky.social", sort="latest", limit=1),
    )
    assert int(response.headers["ratelimit-remaining"]) < int(response.headers["ratelimit-limit"])
    page = models.AppBskyFeedSearchPosts.Response.model_validate(response.content)
    assert [p.uri for p in page.posts] == [mentions[0].uri] and page.cursor
    second = client.app.bsky.feed.search_posts(
        {"q": "mentions:delta.bsky.social", "limit": 1, "cursor": page.cursor}
    )
    assert [p.uri for p in second.posts] == [mentions[1].uri]

    reply = next(p for p in reversed(sandbox.posted) if p.parent is not None)
    thread = client.get_post_thread(reply.uri, depth=0)
    assert thread.thread.post.uri == reply.uri and thread.thread.parent.post.uri == reply.parent.uri


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('{"did": "did:plc:a", "time_us": ', "not JSON"),
        (b"\x28\xb5\x2f\xfd", "binary frame"),
        ("[1, 2]", "not an object"),
        ('{"did": "did:plc:a", "kind": "commit"}', "time_us"),
        ('{"did": "did:plc:a", "time_us": 5, "kind": "label"}', "unknown event kind"),
        (
            '{"did": "did:plc:a", "time_us": 5, "kind": "commit", "commit": {"operation": "create",'
            ' "collection": "app.bsky.feed.post", "rkey": "3k", "cid": "bafy", "record": {"text": "hi",'
            ' "createdAt": "2024-09-09T19:46:02"}}}',
            "no timezone",
        ),
        (
            '{"did": "did:plc:a", "time_us": 5, "kind": "commit", "commit": {"operation": "create",'
            ' "collection": "app.bsky.feed.post", "rkey": "3k", "cid": "bafy", "record": {"createdAt": "x"}}}',
            "text",
        ),
    ],
)
def test_garbage_frames_are_named_for_the_quarantine(frame, reason):
    with pytest.raises(Malformed, match=reason):
        parse_frame(frame, max_bytes=10_000)


def test_events_that_are_not_new_posts_are_skipped_not_quarantined():
    identity = '{"did": "did:plc:a", "time_us": 7, "kind": "identity", "identity": {"handle": "a.b"}}'
    delete = (
        '{"did": "did:plc:a", "time_us": 8, "kind": "commit",'
        ' "commit": {"operation": "delete", "collection": "app.bsky.feed.post", "rkey": "3k"}}'
    )
    like = (
        '{"did": "did:plc:a", "time_us": 9, "kind": "commit",'
        ' "commit": {"operation": "create", "collection": "app.bsky.feed.like", "rkey": "3k", "record": {}}}'
    )
    for text, time_us in ((identity, 7), (delete, 8), (like, 9)):
        frame = parse_frame(text, max_bytes=10_000)
        assert frame.post is None and frame.error is None and frame.time_us == time_us
    error = parse_frame('{"error": "ConsumerTooSlow", "message": "slow"}', max_bytes=10_000)
    assert error.error == "ConsumerTooSlow: slow"
    with pytest.raises(Malformed, match="longer than"):
        parse_frame(identity, max_bytes=20)


def test_a_lone_surrogate_breaks_nothing_for_later_requests(bluesky_server):
    """A post with a lone surrogate once failed every Jetstream connection that replayed it and every later one:
    the sandbox writes it as a JSON escape (valid UTF-8), as it reads back, and refuses what it cannot send."""
    sandbox = bluesky_server(replay=False).sandbox
    before = sandbox.push("before")
    odd = sandbox.push("odd \ud800 text @delta.bsky.social", author="eve")
    sandbox.push_record({"$type": "app.bsky.feed.post", "text": "\udfff", "createdAt": "x"}, author="eve")
    # atproto's client refuses to send one; an app with a JSON library of its own sends it escaped.
    login = xrpc(
        sandbox, "com.atproto.server.createSession", {"identifier": "\ud800.bsky.social", "password": "p"}
    )
    record = {"$type": "app.bsky.feed.post", "text": "reply \udc00 here", "createdAt": "2024-05-13T09:15:02Z"}
    body = {"repo": login["did"], "collection": "app.bsky.feed.post", "record": record}
    reply = xrpc(sandbox, "com.atproto.repo.createRecord", body, token=login["accessJwt"])
    after = sandbox.push("after")
    for _ in range(2):  # a second connection from the same cursor: nothing was left broken
        with subscribe(sandbox, cursor=before.time_us) as ws:
            events = [json.loads(ws.recv(timeout=5)) for _ in range(5)]
        texts = [e["commit"]["record"]["text"] for e in events]
        assert texts == ["before", odd.text, "\udfff", "reply \udc00 here", "after"]
    assert sandbox.post(reply["uri"]) is not None and after.text == "after"
    found = requests.get(
        f"{sandbox.base_url}/xrpc/app.bsky.feed.searchPosts",
        params={"q": "mentions:delta.bsky.social"},
        timeout=5,
    )
    assert found.status_code == 200 and found.json()["posts"][0]["record"]["text"] == odd.text
    with pytest.raises(UnicodeEncodeError):
        sandbox.send_raw("\ud800")
    assert (
        requests.get(
            f"{sandbox.base_url}/xrpc/app.bsky.feed.searchPosts",
            params={"q": "x", "since": "0001-01-01T00:00:00+05:00"},
            timeout=5,
        ).status_code
        == 400
    )


def xrpc(sandbox, nsid: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    answer = requests.post(
        f"{sandbox.base_url}/xrpc/{nsid}", data=json.dumps(body), headers=headers, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return answer.json()
