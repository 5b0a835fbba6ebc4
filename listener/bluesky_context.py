"""Bluesky's thread context (listener/context.py): the posts above a mention, from one
`app.bsky.feed.getPostThread` call (`depth=0`, `parentHeight` as far as the walk may go), which answers the
chain of parents as nested thread views. A parent the AppView will not show is a `notFoundPost` (deleted) or a
`blockedPost` in that chain: the walk ends there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from atproto import models

from listener.bluesky_api import Api, Profiles, Unreadable
from listener.bluesky_normalise import Brands, Malformed, parse_post_view, to_mention
from listener.config import BlueskySettings
from listener.context import Gone
from listener.parsing import raw_bytes
from listener.source import Fatal, SourceContext
from store.incoming import NewMention

_THREAD = "app.bsky.feed.defs#threadViewPost"


class BlueskyContext:
    """The context lookups of every Bluesky source (listener.bluesky builds one): a client of its own, so one
    login more, not one per source (Bluesky allows 30 logins per 5 minutes). atproto's client is not
    thread-safe and each source's fetcher has a thread: a walk asks its one thread view under a lock."""

    def __init__(self, settings: BlueskySettings, brands: Brands, profiles: Profiles) -> None:
        self.limit = settings.thread_context
        self.brands = brands
        self.api = Api(settings, profiles=profiles)
        self._lock = threading.Lock()

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        posts, gone = self._chain(ctx, mention)
        yield from posts
        if gone is not None:
            raise gone

    def _chain(self, ctx: SourceContext, mention: NewMention) -> tuple[list[NewMention], Gone | None]:
        """The posts above `mention`, nearest first, and why the chain stops short (None: at its root)."""
        expected = mention.reply_to_native_id
        posts: list[NewMention] = []
        if expected is None:
            return posts, None
        with self._lock:
            node = self._thread(ctx, mention.native_id, expected)
            try:
                while expected is not None and len(posts) < self.limit:
                    parent = node.get("parent")
                    if not isinstance(parent, dict):
                        raise Gone(expected, f"Bluesky did not show post {expected}")
                    kind = parent.get("$type")
                    if kind == "app.bsky.feed.defs#notFoundPost" or parent.get("notFound"):
                        raise Gone(expected, f"Bluesky has no post {expected} (deleted)")
                    if kind == "app.bsky.feed.defs#blockedPost" or parent.get("blocked"):
                        raise Gone(expected, f"Bluesky does not show post {expected} (blocked)")
                    post = self._post(ctx, parent, mention, expected)
                    posts.append(post)
                    node, expected = parent, post.reply_to_native_id
            except Gone as exc:
                return posts, exc
        return posts, None

    def _thread(self, ctx: SourceContext, uri: str, parent: str) -> dict[str, Any]:
        params = models.AppBskyFeedGetPostThread.Params(uri=uri, depth=0, parent_height=max(1, self.limit))
        try:
            body = self.api.query(ctx, "app.bsky.feed.getPostThread", params, "thread context")
        except Unreadable as exc:
            ctx.put_aside(f"getPostThread answer for {uri}: {exc.reason}", exc.raw)
            raise Gone(parent, f"Bluesky's thread of {uri} could not be read ({exc.reason})") from None
        except Fatal as exc:
            if "NotFound" not in exc.reason and "not found" not in exc.reason.casefold():
                raise
            raise Gone(parent, f"Bluesky has no thread for {uri} (deleted)") from None
        thread = body.get("thread")
        if not isinstance(thread, dict):
            raise Gone(parent, f"Bluesky's thread of {uri} has no thread view")
        return thread

    def _post(self, ctx: SourceContext, node: dict[str, Any], mention: NewMention, uri: str) -> NewMention:
        view = node.get("post")
        try:
            if node.get("$type", _THREAD) != _THREAD or not isinstance(view, dict):
                raise Malformed(f"a {str(node.get('$type'))[:60]} where a thread view was expected")
            post = parse_post_view(view, "thread context")
            author = self.api.profile(ctx, post.did)
            owner = self.brands.dids.get(post.did)
            own = owner == mention.brand or (
                owner is None and (post.handle or "").casefold() in self.brands.handles.get(mention.brand, [])
            )
            return to_mention(post, brand=mention.brand, author=author, is_own=own)
        except Malformed as exc:
            ctx.put_aside(f"thread context of {mention.native_id}: {exc.reason}", raw_bytes(node))
            raise Gone(uri, f"Bluesky's post {uri} could not be read ({exc.reason})") from None
