"""Replying on X through the sandbox: the reply lands in the conversation, and can be found again."""

from __future__ import annotations

import pytest
import requests
from sqlmodel import select
from x_testkit import wait_for, x_settings

from listener.config import BrandSettings
from listener.x import SendError, XSender
from store.models import Mention

SECRETS = {
    "consumer_key": "ck-0123456789abcdef",
    "consumer_secret": "cs-SECRET-fedcba9876543210",
    "access_token": "at-0123456789-token",
    "access_token_secret": "ats-SECRET-0123456789",
}


@pytest.fixture
def server(sandbox_factory):
    return sandbox_factory(replay=False, brands=["AcmeCo"])


def test_send_reply_posts_in_the_conversation_as_the_brand(server):
    sandbox = server.sandbox
    root = sandbox.push("@AcmeCo my order never arrived", author="janedoe")
    follow_up = sandbox.push("@AcmeCo it has been 2 weeks", author="janedoe", in_reply_to=root.id)
    sender = XSender(x_settings(server.base_url, **SECRETS))

    native_id = sender.send_reply("Sorry Jane, we are on it: DM us your order number", follow_up.id)

    [reply] = sandbox.replies
    assert reply.id == native_id
    assert reply.in_reply_to_id == follow_up.id
    assert reply.conversation_id == root.id
    assert reply.author.username == "AcmeCo"
    post = [r for r in sandbox.requests if r["method"] == "POST" and r["path"] == "/2/tweets"]
    assert post[-1]["auth"] == "oauth1" and post[-1]["status"] == 201


def test_find_reply_finds_an_earlier_post_and_only_that_one(server):
    sandbox = server.sandbox
    root = sandbox.push("@AcmeCo the app crashes on login", author="sam")
    sender = XSender(x_settings(server.base_url, **SECRETS))
    text = "Thanks Sam! Which version? & which phone? https://acme.example/help"
    posted = sender.send_reply(text, root.id)

    assert sender.find_reply(root.id, text, "AcmeCo") == posted
    assert sender.find_reply(root.id, text, None) == posted
    assert sender.find_reply(root.id, "a different answer", "AcmeCo") is None
    assert sender.find_reply(root.id, text, "SomeoneElse") is None
    other = sandbox.push("@AcmeCo same problem here", author="kim", in_reply_to=root.id)
    assert sender.find_reply(other.id, text, "AcmeCo") is None, "a reply to another tweet is not the one"


def test_the_reply_reaches_the_collector_as_the_brands_own_post(server, run_collector, store_sink):
    sandbox = server.sandbox
    brand = BrandSettings(name="acme", accounts={"x": ["AcmeCo"]})
    running = run_collector(server.base_url, [brand])
    wait_for(lambda: "streaming" in [str(e.state) for e in running.health], what="the stream")
    question = sandbox.push("@AcmeCo is the store open today?", author="lee")
    reply_id = XSender(x_settings(server.base_url, **SECRETS)).send_reply("Yes, until 8pm!", question.id)

    wait_for(lambda: {question.id, reply_id} <= set(store_sink.native_ids()), what="both tweets stored")
    with store_sink.store.read() as session:
        mentions = {m.native_id: m for m in session.exec(select(Mention))}
    assert mentions[reply_id].is_own and not mentions[question.id].is_own
    assert mentions[reply_id].thread_id == mentions[question.id].thread_id
    assert mentions[reply_id].reply_to_native_id == question.id


def test_refusals_become_send_errors_without_credentials(server):
    sandbox = server.sandbox
    root = sandbox.push("@AcmeCo hello", author="ann")
    sender = XSender(x_settings(server.base_url, **SECRETS))

    with pytest.raises(SendError) as unknown:
        sender.send_reply("hi", "1234567890123456789")
    assert unknown.value.status == 400 and not unknown.value.retryable
    assert str(unknown.value).startswith("X refused the reply: 400")

    sender.send_reply("We are here to help", root.id)
    with pytest.raises(SendError) as duplicate:
        sender.send_reply("We are here to help", root.id)
    assert duplicate.value.status == 403 and "duplicate content" in str(duplicate.value)

    sandbox.set_rate_limit("tweets", 0)
    with pytest.raises(SendError) as limited:
        sender.send_reply("Another answer", root.id)
    assert limited.value.status == 429 and limited.value.retryable

    for error in (unknown.value, duplicate.value, limited.value):
        assert not any(secret in str(error) for secret in SECRETS.values())
        assert error.__cause__ is None


def test_unreachable_network_is_a_retryable_send_error(server):
    sender = XSender(x_settings("http://127.0.0.1:9", **SECRETS), timeout=2)
    with pytest.raises(SendError) as error:
        sender.send_reply("hi", "1")
    assert error.value.retryable and "could not be reached" in str(error.value)


def test_posting_needs_user_auth(server):
    sandbox = server.sandbox
    root = sandbox.push("@AcmeCo hi", author="ann")
    body = {"text": "hello", "reply": {"in_reply_to_tweet_id": root.id}}
    assert requests.post(f"{server.base_url}/2/tweets", json=body, timeout=5).status_code == 401
    bearer = {"Authorization": "Bearer app-only"}
    assert (
        requests.post(f"{server.base_url}/2/tweets", json=body, headers=bearer, timeout=5).status_code == 403
    )
    with pytest.raises(ValueError, match="access_token_secret"):
        XSender(x_settings(server.base_url, consumer_key=None))


def test_missing_text_is_a_400_in_xs_shape(server):
    sandbox = server.sandbox
    root = sandbox.push("@AcmeCo hi", author="ann")
    sender = XSender(x_settings(server.base_url, **SECRETS))
    with pytest.raises(SendError, match="400"):
        sender.send_reply("", root.id)
    assert sandbox.replies == []
