"""Replying on Bluesky through atproto's Client against the sandbox, and finding an earlier reply."""

from __future__ import annotations

import socket

import pytest

from listener.bluesky import BlueskySender, SendError
from listener.sandbox.bluesky import sandbox_settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def thread(bluesky_server):
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    root = sandbox.push("@delta.bsky.social my bag never arrived", author="ann")
    answer = sandbox.push("Sorry, Ann! Which flight?", author="delta.bsky.social", in_reply_to=root.uri)
    deeper = sandbox.push("DL123 from ATL", author="ann", in_reply_to=answer.uri)
    sender = BlueskySender(sandbox_settings(server.base_url, handle="delta.bsky.social"))
    return sandbox, sender, root, deeper


def creates(sandbox) -> int:
    return len([r for r in sandbox.requests if r["path"].endswith("createRecord")])


def test_reply_answers_the_post_and_keeps_the_thread_root(thread):
    sandbox, sender, root, deeper = thread
    uri = sender.send_reply("Found it, @ann.bsky.social: it is on its way.", deeper.uri)
    reply = sandbox.post(uri)
    assert reply is not None and reply in sandbox.replies
    assert reply.author.handle == "delta.bsky.social"
    assert reply.parent is not None and reply.parent.uri == deeper.uri and reply.parent.cid == deeper.cid
    assert reply.root is not None and reply.root.uri == root.uri and reply.root.cid == root.cid
    assert reply.text == "Found it, @ann.bsky.social: it is on its way."

    # Answering the first post of a thread: it is both root and parent.
    first = sandbox.post(sender.send_reply("We are looking into it.", root.uri))
    assert first is not None and first.parent == first.root == root.ref


def test_find_reply_finds_only_our_earlier_reply_with_that_text(thread):
    sandbox, sender, _root, deeper = thread
    assert sender.find_reply(deeper.uri, "On its way.", "delta.bsky.social") is None
    uri = sender.send_reply("On its way.", deeper.uri)
    assert sender.find_reply(deeper.uri, "On  its way.\n", "@delta.bsky.social") == uri
    assert sender.find_reply(deeper.uri, "On its way.", None) == uri
    assert sender.find_reply(deeper.uri, "Something else.", "delta.bsky.social") is None
    assert sender.find_reply(deeper.uri, "On its way.", "someone-else.bsky.social") is None
    assert creates(sandbox) == 1, "looking never posts"


def test_errors_say_whether_a_retry_can_help(thread, bluesky_server):
    sandbox, sender, _root, deeper = thread
    gone = deeper.uri.rsplit("/", 1)[0] + "/3aaaaaaaaaaaa"
    with pytest.raises(SendError) as missing:
        sender.send_reply("hello", gone)
    assert not missing.value.retryable and "3aaaaaaaaaaaa" in str(missing.value)

    sandbox.set_rate_limit(0, reset_in=60)
    with pytest.raises(SendError) as limited:
        sender.send_reply("hello", deeper.uri)
    assert limited.value.retryable and limited.value.status == 429
    assert creates(sandbox) == 0

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    offline = BlueskySender(sandbox_settings(f"http://127.0.0.1:{closed_port}"), timeout=2)
    with pytest.raises(SendError) as unreachable:
        offline.send_reply("hello", deeper.uri)
    assert unreachable.value.retryable and "could not be reached" in str(unreachable.value)
    assert "sandbox-app-password" not in str(unreachable.value)


def test_a_sender_needs_the_brand_account_credentials():
    with pytest.raises(ValueError, match="app_password"):
        BlueskySender(sandbox_settings("http://127.0.0.1:1", app_password=None))


def test_a_reply_naming_the_customer_carries_the_mention_facet_bluesky_notifies_by(thread):
    """Bluesky notifies an account named in a post only through a mention facet (the handle's DID over its
    bytes); the PDS keeps the record as the sender wrote it."""
    sandbox, sender, root, deeper = thread
    text = "Héllo @ann.bsky.social, your bag is on its way."
    reply = sandbox.post(sender.send_reply(text, deeper.uri))
    assert reply is not None and reply.as_written is not None
    (facet,) = reply.as_written["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end] == b"@ann.bsky.social"
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#mention", "did": root.author.did}]
    assert reply.as_written["reply"]["parent"]["uri"] == deeper.uri
    assert reply.as_written["reply"]["root"]["uri"] == root.uri
