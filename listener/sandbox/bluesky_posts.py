"""The sandbox's network state: accounts, posts and threads, and how replayed corpus tweets become posts.

Runs on the sandbox's event loop thread only (the sandbox routes every call there)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from listener.sandbox.bluesky_jetstream import JetstreamHub
from listener.sandbox.bluesky_wire import (
    Clock,
    Ref,
    SkyPost,
    SkyUser,
    cid_for,
    delete_event,
    did_for,
    from_us,
    identity_event,
    jetstream_event,
    post_view,
    sky_user,
    tid,
)
from listener.sandbox.replay import Directory, SandboxTweet
from listener.terms import compile_query

_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]+)\b(?!\.\w)")
# Bluesky's search operator for mentions; the term language spells it as a bare @handle.
_MENTIONS_OPERATOR = re.compile(r"(?<!\S)mentions:@?(\S+)")


class Network:
    def __init__(self, directory: Directory, hub: JetstreamHub) -> None:
        self.directory = directory
        self.hub = hub
        self.clock = Clock()
        self.posts: list[SkyPost] = []
        self.by_uri: dict[str, SkyPost] = {}
        self._children: dict[str, list[SkyPost]] = {}
        self._by_tweet: dict[str, SkyPost] = {}
        self._users: dict[str, SkyUser] = {}

    # -- accounts ----------------------------------------------------------------------------------------------

    def register(self, user: SkyUser) -> SkyUser:
        self._users[user.did] = user
        self._users[user.handle.casefold()] = user
        return user

    def user(self, actor: str) -> SkyUser | None:
        actor = actor.strip().lstrip("@")
        if actor.startswith("did:"):
            return self._users.get(actor)
        known = self._users.get(actor.casefold())
        if known is not None:
            return known
        # Accounts the replay knows but that have not posted yet (a brand before its first reply).
        name = actor.casefold().removesuffix(".bsky.social")
        for candidate in (name, name.replace("-", "_")):
            person = self.directory.get(candidate)
            if person is not None and sky_user(person).handle == actor.casefold():
                return self.register(sky_user(person))
        return None

    def account(self, handle: str) -> SkyUser:
        known = self.user(handle)
        if known is not None:
            return known
        handle = handle.strip().lstrip("@").casefold()
        name = handle.removesuffix(".bsky.social")
        user = sky_user(self.directory.get(name) or self.directory.person(name))
        if user.handle != handle:
            # Any domain is a handle on Bluesky: keep the one asked for.
            user = SkyUser(
                did_for(handle),
                handle,
                user.display_name,
                user.followers,
                user.follows,
                user.posts,
                user.is_brand,
            )
        return self.register(user)

    def _author(self, name: str) -> SkyUser:
        known = self.user(name)
        if known is not None:
            return known
        if "." in name:
            return self.account(name)
        sandbox_user = self.directory.get(name) or self.directory.person(name)
        return self.register(sky_user(sandbox_user))

    def _rewrite_mentions(self, text: str) -> str:
        """The corpus's @AmazonHelp and @user123 as the Bluesky handles of the same accounts."""

        def handle(match: re.Match[str]) -> str:
            known = self.directory.get(match.group(1))
            return "@" + self.register(sky_user(known)).handle if known is not None else match.group(0)

        return _MENTION.sub(handle, text)

    # -- posting -----------------------------------------------------------------------------------------------

    def from_tweet(self, tweet: SandboxTweet, *, historic: bool) -> SkyPost:
        parent = self._by_tweet.get(tweet.in_reply_to_id) if tweet.in_reply_to_id else None
        at_us = int(tweet.created_at.timestamp() * 1_000_000) if historic else None
        post = self._new(
            self._rewrite_mentions(_unescape_x(tweet.text)),
            self.register(sky_user(tweet.author)),
            parent,
            tweet.lang,
            "replay",
            at_us=at_us,
        )
        self._by_tweet[tweet.id] = post
        return post

    def push(self, text: str, author: str, in_reply_to: str | None, lang: str | None) -> SkyPost:
        parent = self.by_uri.get(in_reply_to) if in_reply_to else None
        if in_reply_to and parent is None:
            raise KeyError(f"no post {in_reply_to} to reply to")
        return self._new(text, self._author(author), parent, lang, "push")

    def push_record(self, record: Mapping[str, Any], author: str) -> SkyPost:
        text = record.get("text")
        return self._new(
            text if isinstance(text, str) else "", self._author(author), None, None, "push", as_written=record
        )

    def push_frame(self, frame: str) -> None:
        self.hub.append_text(self.clock.next(), frame)

    def create(self, did: str, record: dict[str, Any]) -> SkyPost:
        author = self.user(did)
        if author is None:
            raise KeyError(f"no account {did}")
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError("Input/record/text must be a string")
        reply = record.get("reply")
        parent: SkyPost | None = None
        root: Ref | None = None
        if reply is not None:
            try:
                parent_uri, root_ref = reply["parent"]["uri"], reply["root"]
                root = Ref(str(root_ref["uri"]), str(root_ref["cid"]))
            except (KeyError, TypeError):
                raise ValueError("Input/record/reply must have root and parent strong refs") from None
            parent = self.by_uri.get(parent_uri)
            if parent is None:
                raise ValueError(f"Could not locate record: {parent_uri}")
        langs = record.get("langs")
        lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
        # Kept as written, as a PDS keeps it: its facets (mentions, links) are what the app shows and notifies.
        return self._new(text, author, parent, lang, "reply", root=root, as_written=record)

    def _new(
        self,
        text: str,
        author: SkyUser,
        parent: SkyPost | None,
        lang: str | None,
        origin: str,
        *,
        at_us: int | None = None,
        root: Ref | None = None,
        as_written: Mapping[str, Any] | None = None,
    ) -> SkyPost:
        time_us = self.clock.next(at_us)
        rkey = tid(time_us, len(self.posts) % 1024)
        uri = f"at://{author.did}/app.bsky.feed.post/{rkey}"
        if parent is not None and root is None:
            root = parent.root or parent.ref
        post = SkyPost(
            uri=uri,
            cid=cid_for(uri, text),
            rkey=rkey,
            text=text,
            author=author,
            time_us=time_us,
            created_at=from_us(time_us - time_us % 1000),  # createdAt carries milliseconds
            root=root if parent is not None else None,
            parent=parent.ref if parent is not None else None,
            parent_author=parent.author if parent is not None else None,
            lang=lang,
            origin=origin,
            as_written=dict(as_written) if as_written is not None else None,
        )
        self.posts.append(post)
        self.by_uri[uri] = post
        if parent is not None:
            self._children.setdefault(parent.uri, []).append(post)
        self.hub.append(jetstream_event(post), uri)
        return post

    def delete(self, uri: str, *, from_appview: bool = False) -> None:
        post = self.by_uri.get(uri)
        if post is None:
            raise KeyError(f"no post {uri}")
        if from_appview:
            del self.by_uri[uri]
        self.hub.append(delete_event(post, self.clock.next()))

    def identity(self, handle: str) -> None:
        self.hub.append(identity_event(self.account(handle), self.clock.next()))

    # -- reading -----------------------------------------------------------------------------------------------

    def search(
        self, query: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[SkyPost]:
        """Newest first, as `sort=latest` answers; `since` inclusive, `until` exclusive, on the post's time."""
        compiled = compile_query(_MENTIONS_OPERATOR.sub(r"@\1", query))
        low = since.astimezone(UTC) if since else None
        high = until.astimezone(UTC) if until else None
        return [
            post
            for post in reversed(self.posts)
            if post.uri in self.by_uri
            and (low is None or post.created_at >= low)
            and (high is None or post.created_at < high)
            and compiled.matches(post)
        ]

    def thread(self, uri: str, *, depth: int, parent_height: int) -> dict[str, Any] | None:
        post = self.by_uri.get(uri)
        if post is None:
            return None
        view = self._down(post, depth)
        node, height = view, 0
        current = post
        while current.parent is not None and height < parent_height:
            parent = self.by_uri.get(current.parent.uri)
            if parent is None:
                node["parent"] = {
                    "$type": "app.bsky.feed.defs#notFoundPost",
                    "uri": current.parent.uri,
                    "notFound": True,
                }
                break
            parent_view = {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": post_view(parent, self._count(parent)),
            }
            node["parent"] = parent_view
            node, current, height = parent_view, parent, height + 1
        return view

    def _down(self, post: SkyPost, depth: int) -> dict[str, Any]:
        view: dict[str, Any] = {
            "$type": "app.bsky.feed.defs#threadViewPost",
            "post": post_view(post, self._count(post)),
        }
        if depth > 0:
            view["replies"] = [self._down(child, depth - 1) for child in self._children.get(post.uri, [])]
        return view

    def _count(self, post: SkyPost) -> int:
        return len(self._children.get(post.uri, []))


def _unescape_x(text: str) -> str:
    """The corpus is X text, which escapes these three; Bluesky text is plain."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
