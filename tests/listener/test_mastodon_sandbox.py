"""The Mastodon sandbox speaks Mastodon as Mastodon.py expects it (the client is unmodified)."""

from __future__ import annotations

import time

import mastodon_testkit
import pytest
import requests
from mastodon import Mastodon, MastodonRatelimitError

pytestmark = pytest.mark.timeout(30)
mastodon_server = mastodon_testkit.mastodon_server


def client(base_url: str) -> Mastodon:
    return Mastodon(
        access_token="any", api_base_url=base_url, ratelimit_method="throw", session=requests.Session()
    )


def test_replayed_conversations_carry_the_brand_hashtag_and_html(mastodon_server):
    server = mastodon_server(replay=False, only=("Delta",), preposted=30)
    sandbox = server.sandbox
    tagged = sandbox.tagged("delta")
    assert len(tagged) == 30
    brand_side = [s for s in tagged if s.author.username == "Delta"]
    customers = [s for s in tagged if s.author.username != "Delta"]
    assert brand_side and customers
    assert all(s.acct.endswith("@example.social") for s in customers)
    rendered = sandbox.render(customers[0])
    assert rendered["content"].startswith("<p>") and "#<span>delta</span>" in rendered["content"]
    assert rendered["account"]["acct"] == customers[0].acct and rendered["tags"] == [
        {"name": "delta", "url": f"{server.base_url}/tags/delta"}
    ]
    assert sandbox.notifications, "customers mentioning @Delta notify the account"


def test_hashtag_timeline_pages_like_mastodon(mastodon_server):
    server = mastodon_server(replay=False, only=("Delta",), preposted=50)
    api = client(server.base_url)
    ids = [s.id for s in server.sandbox.tagged("delta")]
    newest = api.timeline_hashtag("delta", limit=20)
    assert [str(s["id"]) for s in newest] == ids[::-1][:20]
    older = api.fetch_next(newest)
    assert older is not None, "a Link rel=next to follow"
    assert [str(s["id"]) for s in older] == ids[::-1][20:40]
    forward = api.timeline_hashtag("delta", min_id=ids[9], limit=5)
    assert [str(s["id"]) for s in forward] == ids[10:15][::-1], (
        "min_id: the page right after it, newest first"
    )
    since = api.timeline_hashtag("delta", since_id=ids[9], limit=5)
    assert [str(s["id"]) for s in since] == ids[::-1][:5], "since_id: the newest, down to it"
    assert api.timeline_hashtag("delta", min_id=ids[-1]) == []
    link = requests.get(
        f"{server.base_url}/api/v1/timelines/tag/delta?limit=2", headers={"Authorization": "Bearer x"}
    )
    assert 'rel="next"' in link.headers["Link"] and 'rel="prev"' in link.headers["Link"]


def test_rate_limit_headers_and_429(mastodon_server):
    server = mastodon_server(replay=False)
    api = client(server.base_url)
    api.account_verify_credentials()
    assert api.ratelimit_limit == 300 and api.ratelimit_remaining == 299
    assert api.ratelimit_reset is not None and api.ratelimit_reset > time.time() + 200
    server.sandbox.set_rate_limit(0, reset_in=30)
    with pytest.raises(MastodonRatelimitError):
        api.account_verify_credentials()


def test_the_stream_speaks_sse_with_heartbeats_and_events(mastodon_server):
    server = mastodon_server(replay=False, keepalive=0.1)
    sandbox = server.sandbox
    response = requests.get(
        f"{server.base_url}/api/v1/streaming/hashtag?tag=delta",
        headers={"Authorization": "Bearer x"},
        stream=True,
        timeout=5,
    )
    assert response.headers["Content-Type"].startswith("text/event-stream")
    chunks = response.iter_content(chunk_size=None)
    assert next(chunks) == b":)\n"
    assert next(chunks) == b":thump\n", "a heartbeat every keepalive seconds"
    pushed = sandbox.push("#delta lost bag", author="ana")
    seen = b""
    while not seen.endswith(b"\n\n"):
        seen += next(chunks).removeprefix(b":thump\n")
    assert seen.startswith(b"event: update\ndata: {")
    assert f'"id": "{pushed.id}"'.encode() in seen
    response.close()


def test_the_instance_advertises_itself_as_the_streaming_host(mastodon_server):
    server = mastodon_server(replay=False)
    body = requests.get(f"{server.base_url}/api/v1/instance", timeout=5).json()
    assert body["urls"]["streaming_api"] == "ws" + server.base_url.removeprefix("http")
    refused = requests.get(f"{server.base_url}/api/v1/streaming/hashtag?tag=delta", timeout=5)
    assert refused.status_code == 401 and refused.json() == {"error": "The access token is invalid"}
