"""A local fake Reddit on 127.0.0.1 that praw talks to, unmodified, as if it were oauth.reddit.com.

It replays the bundled customer-support conversations re-skinned as Reddit: a conversation's first post is a
submission (t3) in one of the configured subreddits, every answer a comment (t1) under it, with Reddit's
base36 ids, fullnames, link_id/parent_id, permalinks and `u/` mentions. It answers the token, the subreddit
listings (`/r/{sub}/comments`, `/r/{sub}/new`, paged with `after`/`before` as Reddit pages them), `/api/info`,
a user's comments and `POST /api/comment`, with an x-ratelimit-* budget; and can be scripted from a test.

Reddit has no stream and no keep-alive: a poll answered with an empty listing is the keep-alive. Faults act on
the next requests: `stall(s)` holds answers, `drop()` cuts the next listing answer mid-body,
`fail_next_connect(status)` refuses calls, `send_raw(bytes)` / `error_frame()` replace the next listing body,
`push_raw(child)` puts a malformed child into a listing, `set_rate_limit(remaining)` drains the budget.

Replies posted through the API are authored by the account that obtained the token (the script app's
username), as on Reddit. Every scripting method is safe to call from any thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from listener.config import RedditSettings
from listener.sandbox import reddit_http
from listener.sandbox.reddit_things import Things
from listener.sandbox.reddit_wire import LISTING_CAP, Budget, Thing, error_body
from listener.sandbox.replay import DATA, Directory, Snowflakes
from listener.sandbox.replaying import ReplayingServer
from listener.sandbox.running import SandboxThread

SANDBOX_SUBREDDITS = ("support",)


# Where the counters start: ids of the length Reddit's have today.
class RedditSandbox(ReplayingServer[Thing]):
    """The fake Reddit. `subreddits`: where replayed conversations are posted (each conversation in one of
    them); `pace`: replayed posts per second; `preposted`: corpus posts already there at start (history for
    a first backfill), `history_spacing` seconds apart, dated back from now; `replay=False`: no automatic
    replay (tests call `advance()`); `paused`: the replay waits for `resume()`; `limit`: replay only the first
    N corpus tweets; `brands`: extra handles that count as brand accounts; `repeat`: start over at the end;
    `holds`: see `Replay`; `budget`/`window`: calls per window of the x-ratelimit budget; `listing_cap`: how
    many items a listing keeps (Reddit: about 1000)."""

    replay_task_name = "reddit-sandbox-replay"

    def __init__(
        self,
        *,
        subreddits: Sequence[str] = SANDBOX_SUBREDDITS,
        pace: float = 1.0,
        preposted: int = 0,
        replay: bool = True,
        paused: bool = False,
        limit: int | None = None,
        brands: Sequence[str] = (),
        repeat: bool = False,
        holds: tuple[float, float] = (0.0, 0.0),
        history_spacing: float = 0.0,
        budget: int = 1000,
        window: float = 600.0,
        listing_cap: int = LISTING_CAP,
        data: Path = DATA,
    ) -> None:
        if pace <= 0:
            raise ValueError("pace is posts per second and must be positive")
        if not subreddits:
            raise ValueError("the sandbox needs at least one subreddit to post conversations in")
        super().__init__(
            what="posts",
            pace=pace,
            preposted=preposted,
            replay=replay,
            paused=paused,
            repeat=repeat,
            history_spacing=history_spacing,
            directory=Directory(tuple(brands)),
            limit=limit,
            holds=holds,
            data=data,
        )
        self.subreddits = [name.removeprefix("r/") for name in subreddits]
        self.listing_cap = listing_cap
        self.snowflakes = Snowflakes()
        self.budget = Budget(limit=budget, window=window)
        self.things = Things(self.directory, self.subreddits)
        self._replies: list[Thing] = []
        self._requests: list[dict[str, Any]] = []
        self._tokens: dict[str, str | None] = {}
        self._failures: list[int] = []
        self._lookup_refusals: list[float] = []
        self._next_answers: list[tuple[int, bytes]] = []
        self.failure_retry_after: str | None = None
        self._drops = 0
        self._stall_until = 0.0
        self._unstall = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve on host:port (0 = any free port) and return the base URL, e.g. http://127.0.0.1:PORT; it is
        both praw's `oauth_url` and its `reddit_url`."""
        self._unstall = asyncio.Event()
        return await super().start(port, host)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[reddit_http.middleware(self)])
        app.add_routes(reddit_http.routes(self))
        return app

    async def _close_streams(self) -> None:
        # No streams: release every answer a stall holds.
        self._release()

    # -- what tests read -------------------------------------------------------------------------------------

    @property
    def posted(self) -> list[Thing]:
        """Every submission and comment on this fake Reddit, oldest first."""
        return list(self.things.posted)

    @property
    def replies(self) -> list[Thing]:
        """Comments created through `POST /api/comment`."""
        return list(self._replies)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One entry per request: method, path, query, form (POSTs, never a password), auth kind
        ('basic', 'bearer' or None) and status (an int, or 'dropped')."""
        return [dict(entry) for entry in self._requests]

    def thing(self, fullname: str) -> Thing | None:
        return self.things.by_fullname.get(fullname)

    # -- scripting (any thread) ------------------------------------------------------------------------------

    def push(
        self,
        text: str,
        *,
        author: str = "sandbox_customer",
        subreddit: str | None = None,
        reply_to: str | None = None,
        title: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Thing:
        """Post now: a comment answering `reply_to` (a t1_/t3_ fullname), else a submission in `subreddit`
        (default: the first configured) titled `title` with `text` as its body, or titled `text` itself.
        `fields` are written over its JSON wherever it is served, e.g. a `created_utc` of NaN."""
        return self._call(self._push, text, author, subreddit, reply_to, title, fields)

    def delete(self, fullname: str) -> Thing:
        """The author deletes a submission or comment: Reddit keeps it in place as `[deleted]` by `[deleted]`."""
        return self._call(self.things.delete, fullname)

    def push_raw(self, child: Any, *, subreddit: str | None = None, kind: str = "comments") -> None:
        """Put `child` as is at the newest position of a listing ('comments' or 'new'): a malformed item."""
        self._call(self.things.push_raw, child, subreddit or self.subreddits[0], kind)

    def drop(self, count: int = 1) -> None:
        """Cut the next `count` listing answers halfway through their body, and any answer held by a stall."""
        self._call(self._drop, count)

    def stall(self, seconds: float) -> None:
        """Hold every answer (also those already waiting) until `seconds` from now."""
        self._call(self._stall, seconds)

    def fail_next_connect(self, status: int, count: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next `count` requests, the token included, with this HTTP status (count=0 clears).
        `retry_after` (seconds or an HTTP date) is sent as Retry-After with these answers."""
        self.failure_retry_after = retry_after
        self._call(self._set_failures, status, count)

    def send_raw(self, body: bytes | str, status: int = 200) -> None:
        """Answer the next listing request with these bytes as its body."""
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
        self._call(self._next_answers.append, (status, data))

    def error_frame(
        self, error: int = 503, message: str = "Service Unavailable", *, status: int = 200
    ) -> None:
        """Answer the next listing request with Reddit's error body `{"message": ..., "error": ...}` (sent
        with HTTP `status`: 200 is what a misbehaving cache in front of Reddit does)."""
        self._call(self._next_answers.append, (status, error_body(error, message)))

    def refuse_lookups(self, count: int = 1, *, reset_in: float = 1.0) -> None:
        """Answer the next `count` `/api/info` calls with 429 and a spent budget that refills in `reset_in`
        seconds, as Reddit does when the app's budget runs out at that call (listings are left alone)."""
        self._call(self._lookup_refusals.extend, [reset_in] * count)

    def set_rate_limit(self, remaining: int, reset_in: float | None = None) -> None:
        """What is left of the budget (0: the next call answers 429) and, optionally, seconds until refill."""
        self._call(self.budget.set, remaining, reset_in)

    # -- internals (loop thread only) ------------------------------------------------------------------------

    def _drop(self, count: int) -> None:
        self._drops = count
        if self._stall_until:
            # Held answers are cut rather than sent late.
            self._drops = max(self._drops, 1)
            self._release()

    def _stall(self, seconds: float) -> None:
        self._stall_until = time.monotonic() + seconds
        self._unstall = asyncio.Event()

    def _release(self) -> None:
        self._stall_until = 0.0
        self._unstall.set()

    async def _held(self) -> None:
        while self._stall_until and (left := self._stall_until - time.monotonic()) > 0:
            unstall = self._unstall
            try:
                await asyncio.wait_for(unstall.wait(), left)
            except TimeoutError:
                pass

    def _set_failures(self, status: int, count: int) -> None:
        self._failures = [status] * count

    def _push(
        self,
        text: str,
        author: str,
        subreddit: str | None,
        reply_to: str | None,
        title: str | None,
        fields: Mapping[str, Any] | None = None,
    ) -> Thing:
        parent = self.things.by_fullname.get(reply_to) if reply_to else None
        if reply_to and parent is None:
            raise KeyError(f"nothing called {reply_to} to reply to")
        thing = self.things.new_thing(
            text,
            author,
            subreddit=subreddit or self.subreddits[0],
            parent=parent,
            title=title,
            origin="push",
        )
        thing = replace(thing, fields=fields)
        self.things.emit(thing)
        return thing

    def _reply(self, author: str, parent_fullname: str, text: str) -> Thing:
        thing = self.things.new_thing(
            text,
            author,
            subreddit="",
            parent=self.things.by_fullname[parent_fullname],
            title=None,
            origin="reply",
        )
        self.things.emit(thing)
        self._replies.append(thing)
        return thing

    def _emit_next(self, now: float | None = None, at_ms: int | None = None) -> Thing | None:
        tweet = self._next_from_corpus(self.snowflakes, now, at_ms)
        if tweet is None:
            return None
        thing = self.things.from_tweet(tweet)
        self.things.emit(thing)
        return thing


def sandbox_settings(base_url: str, **overrides: Any) -> RedditSettings:
    """Settings for a collector or sender talking to this sandbox: it takes any well-formed credentials."""
    values: dict[str, Any] = {
        "enabled": True,
        "base_url": base_url,
        "auth_url": base_url,
        "client_id": SecretStr("sandbox-client"),
        "client_secret": SecretStr("sandbox-secret"),
        "username": "earful_desk",
        "password": SecretStr("sandbox"),
        "subreddits": list(SANDBOX_SUBREDDITS),
    }
    values.update(overrides)
    return RedditSettings(**values)


class RedditSandboxThread(SandboxThread[RedditSandbox]):
    """The Reddit sandbox in a background thread with its own event loop, for sync tests and `earful demo`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(RedditSandbox(**options), name="reddit-sandbox")
