"""Replying on Reddit through praw against the sandbox, and finding a reply already posted."""

from __future__ import annotations

import pytest
from reddit_testkit import start_sandbox

from listener.reddit import RedditSender, SendError
from listener.sandbox.reddit import sandbox_settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server():
    server = start_sandbox(subreddits=["support"])
    yield server
    server.stop()


def test_replies_to_a_comment_and_to_a_submission_as_the_brand(server):
    sandbox = server.sandbox
    post = sandbox.push("My Acme blender died", author="ana")
    comment = sandbox.push("Same here", reply_to=post.fullname, author="ben")
    sender = RedditSender(sandbox_settings(server.base_url, username="AcmeSupport"))

    to_comment = sender.send_reply("Sorry Ben, DM us your order number.", comment.fullname)
    to_post = sender.send_reply("Hi Ana, we are on it.", post.fullname)

    made = {thing.fullname: thing for thing in sandbox.replies}
    assert set(made) == {to_comment, to_post}
    assert made[to_comment].parent_id == comment.fullname and made[to_comment].link_id == post.fullname
    assert made[to_post].parent_id == post.fullname
    assert all(thing.author.username == "AcmeSupport" for thing in made.values())
    posts = [r for r in sandbox.requests if r["path"].startswith("/api/comment")]
    assert [r["form"]["thing_id"] for r in posts] == [comment.fullname, post.fullname]
    assert all(r["auth"] == "bearer" for r in posts)


def test_find_reply_sees_an_earlier_post_and_nothing_else(server):
    sandbox = server.sandbox
    post = sandbox.push("Acme order late", author="ana")
    other = sandbox.push("Acme order lost", author="ben")
    sender = RedditSender(sandbox_settings(server.base_url, username="AcmeSupport"))
    assert sender.find_reply(post.fullname, "We are on it.", "AcmeSupport") is None

    sent = sender.send_reply("We are  on it.\n", post.fullname)
    assert sender.find_reply(post.fullname, "We are on it.", None) == sent, (
        "the configured account by default"
    )
    assert sender.find_reply(post.fullname, "We are on it.", "@AcmeSupport") == sent
    assert sender.find_reply(post.fullname, "Something else", None) is None
    assert sender.find_reply(other.fullname, "We are on it.", None) is None


def test_refusals_say_whether_to_retry(server):
    sandbox = server.sandbox
    post = sandbox.push("Acme help", author="ana")
    sender = RedditSender(sandbox_settings(server.base_url, username="AcmeSupport"))

    with pytest.raises(SendError, match="DELETED_COMMENT") as gone:
        sender.send_reply("hello", "t1_zzzzzz")
    assert not gone.value.retryable

    sandbox.fail_next_connect(503, count=2)
    with pytest.raises(SendError, match="503") as down:
        sender.send_reply("hello", post.fullname)
    assert down.value.retryable and down.value.status == 503

    sandbox.fail_next_connect(429)
    with pytest.raises(SendError, match="429") as limited:
        sender.send_reply("hello", post.fullname)
    assert limited.value.retryable

    with pytest.raises(SendError, match="not a Reddit comment"):
        sender.send_reply("hello", "1790000000000000002")
    assert sandbox.replies == [], "nothing was posted by any of these"

    # A single 503 is retried once, at once, by the client: the reply goes through.
    sandbox.fail_next_connect(503)
    assert sender.send_reply("hello", post.fullname).startswith("t1_")


def test_a_sender_needs_the_brand_account(server):
    with pytest.raises(ValueError, match="reddit.username and reddit.password"):
        RedditSender(sandbox_settings(server.base_url, username=None))
    with pytest.raises(ValueError, match="reddit.client_id"):
        RedditSender(sandbox_settings(server.base_url, client_id=None))
