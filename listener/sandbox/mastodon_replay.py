"""The corpus re-skinned for Mastodon: which conversations to replay, and a replayed tweet as a status."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

from listener.sandbox.mastodon_wire import Status, hashtags, mentioned_handles
from listener.sandbox.replay import Directory, ReplayRow, SandboxTweet, SandboxUser


def conversations_of(rows: list[ReplayRow], brands: Sequence[str]) -> list[ReplayRow]:
    """Only the corpus conversations held with these brands (a reply never before its parent, as before)."""
    wanted = {brand.casefold() for brand in brands}
    parent = {row.tweet_id: row.in_response_to_tweet_id for row in rows}

    def root(tweet_id: int) -> int:
        while (up := parent.get(tweet_id)) is not None and up in parent:
            tweet_id = up
        return tweet_id

    brand_of: dict[int, str] = {}
    for row in rows:
        if not row.inbound:
            brand_of.setdefault(root(row.tweet_id), row.author_id.casefold())
    return [row for row in rows if brand_of.get(root(row.tweet_id)) in wanted]


def mentioned_users(text: str, resolve: Callable[[str], SandboxUser | None]) -> tuple[SandboxUser, ...]:
    """The accounts a text mentions, as Mastodon resolves them (an unknown handle mentions nobody)."""
    found: list[SandboxUser] = []
    for handle in mentioned_handles(text):
        user = resolve(handle)
        if user is not None and user not in found:
            found.append(user)
    return tuple(found)


def conversation_brand(tweet: SandboxTweet, parent_brand: str | None, directory: Directory) -> str | None:
    """The brand a tweet's conversation is with: its author, its parent's, or the first brand it mentions."""
    if tweet.author.is_brand:
        return tweet.author.username
    if parent_brand is not None:
        return parent_brand
    for handle in mentioned_handles(tweet.text):
        user = directory.get(handle)
        if user is not None and user.is_brand:
            return user.username
    return None


def reskin(tweet: SandboxTweet, brand: str | None, resolve: Callable[[str], SandboxUser | None]) -> Status:
    """A replayed tweet as a Mastodon status: the same id and author, the text with its entities decoded (the
    corpus stored X's escaped text) and the hashtag of the brand the conversation is with."""
    text = html.unescape(tweet.text)
    if brand is not None:
        text = f"{text} #{brand.lower()}"
    return Status(
        id=tweet.id,
        text=text,
        author=tweet.author,
        created_at=tweet.created_at,
        root_id=tweet.conversation_id,
        in_reply_to_id=tweet.in_reply_to_id,
        in_reply_to_account=tweet.in_reply_to_user,
        lang=tweet.lang,
        tags=tuple(hashtags(text)),
        mentions=mentioned_users(text, resolve),
        origin=tweet.origin,
    )


def context(
    status: Status, by_id: Mapping[str, Status], statuses: Sequence[Status]
) -> tuple[list[Status], list[Status]]:
    ancestors: list[Status] = []
    parent = by_id.get(status.in_reply_to_id or "")
    while parent is not None:
        ancestors.insert(0, parent)
        parent = by_id.get(parent.in_reply_to_id or "")
    below = {status.id}
    descendants = []
    for candidate in statuses:  # oldest first: a reply always comes after its parent
        if candidate.in_reply_to_id in below:
            below.add(candidate.id)
            descendants.append(candidate)
    return ancestors, descendants
