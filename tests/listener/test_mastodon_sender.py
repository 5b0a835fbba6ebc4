"""Replying on Mastodon through Mastodon.py, against the sandbox."""

from __future__ import annotations

import mastodon_testkit
import pytest
from mastodon_testkit import wait_for

from listener.mastodon import MastodonSender, SendError
from listener.mastodon_sender import idempotency_key
from listener.sandbox.mastodon import sandbox_settings

pytestmark = pytest.mark.timeout(30)
mastodon_server = mastodon_testkit.mastodon_server
supervise = mastodon_testkit.supervise


def test_a_reply_reaches_the_conversation_as_the_brand(mastodon_server):
    server = mastodon_server(replay=False, account="Delta")
    sandbox = server.sandbox
    root = sandbox.push("@Delta my bag never arrived", author="ana")
    sender = MastodonSender(sandbox_settings(server.base_url))

    native_id = sender.send_reply("@ana sorry! Please DM us your tag number & flight.", root.id)

    (reply,) = sandbox.replies
    assert reply.id == native_id and reply.author.username == "Delta"
    assert reply.in_reply_to_id == root.id and reply.root_id == root.id
    _, descendants = sandbox.context(root)
    assert [s.id for s in descendants] == [native_id]
    posted = [r for r in sandbox.requests if r["path"] == "/api/v1/statuses" and r["method"] == "POST"]
    assert posted[0]["idempotency_key"] == idempotency_key(
        root.id, "@ana sorry! Please DM us your tag number & flight."
    )


def test_a_retried_send_posts_once(mastodon_server):
    server = mastodon_server(replay=False)
    sandbox = server.sandbox
    root = sandbox.push("@Delta hello?", author="ana")
    sender = MastodonSender(sandbox_settings(server.base_url))
    first = sender.send_reply("@ana hi, how can we help?", root.id)
    again = MastodonSender(sandbox_settings(server.base_url)).send_reply("@ana hi, how can we help?", root.id)
    assert again == first and len(sandbox.replies) == 1
    other = sender.send_reply("@ana a different answer", root.id)
    assert other != first and len(sandbox.replies) == 2


def test_find_reply_finds_an_earlier_post_by_text_and_account(mastodon_server):
    server = mastodon_server(replay=False, account="Delta")
    sandbox = server.sandbox
    root = sandbox.push("@Delta where is my refund", author="ana")
    sandbox.push("@ana same question here", author="ben", in_reply_to=root.id)
    sender = MastodonSender(sandbox_settings(server.base_url))
    text = "@ana refunds take 7 days & we're on it <3"
    assert sender.find_reply(root.id, text, "Delta") is None
    native_id = sender.send_reply(text, root.id)
    assert sender.find_reply(root.id, text, "Delta") == native_id
    assert sender.find_reply(root.id, text, "@Delta@127.0.0.1") == native_id
    assert sender.find_reply(root.id, text, "ben") is None
    assert sender.find_reply(root.id, "@ana something else", "Delta") is None


def test_errors_say_what_happened_and_whether_to_retry(mastodon_server):
    server = mastodon_server(replay=False, valid_token="the-real-one")
    sandbox = server.sandbox
    root = sandbox.push("@Delta hi", author="ana")
    with pytest.raises(SendError, match="401.*mastodon.access_token") as refused:
        MastodonSender(sandbox_settings(server.base_url)).send_reply("hello", root.id)
    assert refused.value.status == 401 and not refused.value.retryable

    sender = MastodonSender(sandbox_settings(server.base_url, access_token="the-real-one"))
    with pytest.raises(SendError, match="404") as missing:
        sender.send_reply("hello", "999")
    assert not missing.value.retryable
    sandbox.set_rate_limit(0, reset_in=60)
    with pytest.raises(SendError, match="rate limited") as limited:
        sender.send_reply("hello", root.id)
    assert limited.value.retryable and limited.value.status == 429
    assert sandbox.replies == []

    gone = MastodonSender(sandbox_settings("http://127.0.0.1:9", access_token="x"), timeout=2)
    with pytest.raises(SendError, match="could not be reached") as unreachable:
        gone.send_reply("hello", root.id)
    assert unreachable.value.retryable


def test_a_sender_needs_a_token():
    with pytest.raises(ValueError, match="mastodon.access_token"):
        MastodonSender(sandbox_settings("http://127.0.0.1:9", access_token=None))


def test_a_reply_names_the_customer_and_the_others_of_the_conversation_as_mastodon_does(mastodon_server):
    """Mastodon notifies only who a status mentions: the web client starts a reply with the author and the
    accounts the status mentions, never the replying account itself."""
    server = mastodon_server(replay=False, account="Delta")
    sandbox = server.sandbox
    sandbox.push("hello", author="ben")  # ben exists, so a mention of him resolves
    root = sandbox.push("@Delta @ben@example.social our bags never arrived", author="ana")
    sender = MastodonSender(sandbox_settings(server.base_url))

    sender.send_reply("Sorry! Please DM us your tag numbers.", root.id)

    (reply,) = sandbox.replies
    assert reply.text == "@ana@example.social @ben@example.social Sorry! Please DM us your tag numbers."
    assert [user.username for user in reply.mentions] == ["ana", "ben"], "both are notified"
    (notified,) = [n for n in sandbox.notifications if n.status == root]
    assert notified.status.author.username == "ana"


def test_a_reply_already_naming_the_customer_is_sent_as_written_and_keeps_a_private_posts_visibility(
    mastodon_server,
):
    server = mastodon_server(replay=False, account="Delta")
    sandbox = server.sandbox
    root = sandbox.push("@Delta my refund?", author="ana", fields={"visibility": "private"})
    sender = MastodonSender(sandbox_settings(server.base_url))

    native_id = sender.send_reply("@ana it is on its way", root.id)

    (reply,) = sandbox.replies
    assert reply.text == "@ana it is on its way"
    assert reply.visibility == "private", "a reply to a followers-only post is not made public"
    assert sender.find_reply(root.id, "it is on its way", "Delta") == native_id


def test_the_brands_reply_comes_back_on_the_accounts_stream_into_the_thread(
    mastodon_server, supervise, store_sink
):
    """The reply carries no streamed hashtag: it comes back on the account's `user` stream (its home timeline
    holds its own statuses), into the customer's thread."""
    server = mastodon_server(replay=False, account="Delta")
    sandbox = server.sandbox
    running = supervise(server.base_url)
    wait_for(running.live, what="both sources streaming")
    root = sandbox.push("@Delta my bag never arrived #delta", author="ana")
    wait_for(lambda: root.id in store_sink.native_ids(), what="the customer's status stored")

    native_id = MastodonSender(sandbox_settings(server.base_url)).send_reply("On it!", root.id)

    wait_for(lambda: native_id in store_sink.native_ids(), what="the reply stored")
    assert native_id in sandbox.delivered, "it came through a stream, not a backfill"
    mentions = {m.native_id: m for m in store_sink.mentions()}
    assert mentions[native_id].is_own and mentions[native_id].thread_id == mentions[root.id].thread_id
    assert mentions[native_id].text == "@ana On it!"
