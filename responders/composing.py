"""What the desk checks around a reply being written: who it addresses on the thread's network, what changed on
the thread since the reply box opened (a colleague answered, the customer wrote again), and who holds it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from store.models import Identity, Mention, Reply, ReplyStatus, Thread
from store.queries import ThreadView
from store.reply_address import addressed, reply_mentions
from store.text import one_line


@dataclass(frozen=True)
class Seen:
    """The thread as the reply box first showed it: the newest message and reply then."""

    thread_id: int
    message_id: int = 0
    reply_id: int = 0


def seen_in(view: ThreadView) -> Seen:
    thread_id = view.thread.id or 0
    return Seen(
        thread_id,
        max((m.id or 0 for m, _ in view.messages), default=0),
        max((r.id or 0 for r in view.replies), default=0),
    )


def address(network: str, text: str, target: Mention | None, own: Iterable[str | None]) -> str:
    """`text` as it will be posted in reply to `target`, addressed the way the network's own app addresses it.

    Mastodon notifies only the accounts a reply names, so it starts with the customer's @acct and the others the
    status mentions (as the web client does). X adds the replied-to @handle itself, Bluesky and Reddit notify the
    parent's author by the reply itself: those are sent as written."""
    if network != "mastodon" or target is None:
        return text
    return addressed(text, reply_mentions(target.raw or {}, [h for h in own if h]))


def own_handles(thread_id: int, *, session: Session) -> list[str]:
    """The brand's accounts that have posted on this thread."""
    return [
        handle
        for handle in session.exec(
            select(Identity.handle)
            .join(Mention, col(Mention.identity_id) == col(Identity.id))
            .where(col(Mention.thread_id) == thread_id, col(Mention.is_own) == True)  # noqa: E712
            .distinct()
        )
        if handle
    ]


def _quote(text: str) -> str:
    return f"“{one_line(text, 60)}”"


def changes_since(seen: Seen, responder: str, *, session: Session) -> list[str]:
    """What a responder about to send should know first, each as a sentence: replies and messages that arrived
    on the thread since `seen`, and a colleague holding it."""
    said: list[str] = []
    thread = session.get(Thread, seen.thread_id)
    if thread is None:
        return ["the thread no longer exists"]
    replies = session.exec(
        select(Reply)
        .where(
            col(Reply.thread_id) == seen.thread_id,
            col(Reply.id) > seen.reply_id,
            col(Reply.status) != ReplyStatus.CANCELLED,
        )
        .order_by(col(Reply.id))
    ).all()
    for reply in replies:
        who = "you (from another desk)" if reply.responder == responder else reply.responder
        said.append(f"{who} replied since you opened the reply box: {_quote(reply.text)}")
    sent = {
        r.native_id
        for r in session.exec(select(Reply).where(Reply.thread_id == seen.thread_id))
        if r.native_id
    }
    messages = session.exec(
        select(Mention, Identity)
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .where(col(Mention.thread_id) == seen.thread_id, col(Mention.id) > seen.message_id)
        .order_by(col(Mention.id))
    ).all()
    for mention, identity in messages:
        if mention.is_own and mention.native_id in sent:
            continue  # a reply from this desk coming back from the network: told above
        who = f"@{identity.handle}" if identity.handle else "someone"
        if mention.is_own:
            said.append(f"the brand's account {who} posted on the thread: {_quote(mention.text)}")
        else:
            said.append(f"{who} wrote again: {_quote(mention.text)}")
    if thread.assignee not in (None, responder):
        said.append(f"{thread.assignee} holds this thread")
    return said
