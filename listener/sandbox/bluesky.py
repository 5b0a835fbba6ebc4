"""A local fake Bluesky on 127.0.0.1: Jetstream v1 (`/subscribe`, JSON text frames) and the XRPC endpoints atproto's
`Client` uses (login, profiles, search, threads, posting), on one port.

It replays the bundled customer-support conversations as Bluesky posts (dids, `name.bsky.social` handles, TID
record keys, at:// URIs, reply root/parent refs), keeps every event so a Jetstream `cursor` replays from there,
keeps every post for `searchPosts`, and can be scripted from a test: push a post, drop or stall every
connection, refuse the next connects, send a malformed or an error frame, run the rate-limit budget down.

Run it in an existing loop (`await sandbox.start()`) or in its own thread (`BlueskySandboxThread(...).start()`).
Every scripting method is safe to call from any thread. `jetstream_url` is the ws:// form of `base_url`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from listener.config import BlueskySettings
from listener.sandbox import bluesky_http
from listener.sandbox.bluesky_jetstream import JetstreamHub
from listener.sandbox.bluesky_posts import Network
from listener.sandbox.bluesky_wire import SkyPost, SkyUser
from listener.sandbox.replay import DATA, Directory, Snowflakes
from listener.sandbox.replaying import ReplayingServer
from listener.sandbox.running import SandboxThread


class BlueskySandbox(ReplayingServer[SkyPost]):
    """The fake Bluesky. `pace`: replayed posts per second; `preposted`: corpus posts that exist before start
    (search finds them; Jetstream replays them to a cursor old enough); `keepalive`: seconds between websocket
    pings on a quiet connection; `replay=False`: no automatic replay (tests call `advance()`); `paused`: replay
    waits for `resume()`; `limit`: replay only the first N corpus rows; `brands`: extra handles that count as
    brand accounts; `repeat`: start the corpus over when it ends; `holds`: see `Replay`; `history_spacing`:
    seconds between preposted posts, dated back from now; `retry_after`: seconds a 429 on connect asks to wait."""

    replay_task_name = "bluesky-sandbox-replay"

    def __init__(
        self,
        *,
        pace: float = 1.0,
        preposted: int = 0,
        keepalive: float = 20.0,
        replay: bool = True,
        paused: bool = False,
        limit: int | None = None,
        brands: Sequence[str] = (),
        repeat: bool = False,
        holds: tuple[float, float] = (0.0, 0.0),
        history_spacing: float = 0.0,
        retry_after: float = 1.0,
        data: Path = DATA,
    ) -> None:
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
        self.retry_after = retry_after
        self.ids = Snowflakes()
        self.budget = bluesky_http.Budget()
        self._delivered: list[str] = []
        self.hub = JetstreamHub(keepalive, self._delivered.append)
        self.network = Network(self.directory, self.hub)
        self._requests: list[dict[str, Any]] = []
        self._connect_failures: list[tuple[int, str | None]] = []

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[bluesky_http.middleware(self)])
        app.add_routes(bluesky_http.routes(self))
        return app

    async def _close_streams(self) -> None:
        await self.hub.close()

    @property
    def jetstream_url(self) -> str:
        return "ws" + self.base_url[len("http") :] if self.base_url else ""

    # -- what tests read -------------------------------------------------------------------------------------

    @property
    def posted(self) -> list[SkyPost]:
        """Every post that exists on this fake network, oldest first."""
        return list(self.network.posts)

    @property
    def replies(self) -> list[SkyPost]:
        """Posts created through `com.atproto.repo.createRecord`."""
        return [post for post in self.network.posts if post.origin == "reply"]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One entry per request: method, path, query, auth ('bearer' or None), status."""
        return [dict(entry) for entry in self._requests]

    @property
    def delivered(self) -> list[str]:
        """URIs of the posts actually written to a Jetstream connection, in order (replays included)."""
        return list(self._delivered)

    @property
    def connections(self) -> int:
        """Jetstream connections open right now."""
        return len(self.hub)

    @property
    def cursors(self) -> list[int | None]:
        """The `cursor` each accepted Jetstream connection asked for, in order."""
        return list(self.hub.cursors)

    def post(self, uri: str) -> SkyPost | None:
        return self.network.by_uri.get(uri)

    def user(self, actor: str) -> SkyUser | None:
        """An account by did or handle."""
        return self.network.user(actor)

    def account(self, handle: str) -> SkyUser:
        """The account of this handle, made on first use (the sandbox takes any login)."""
        return self.network.account(handle)

    def matching(self, query: str) -> list[SkyPost]:
        """The posts a query matches, oldest first (what a complete collector must end up with)."""
        return list(reversed(self.network.search(query)))

    # -- scripting (any thread) ------------------------------------------------------------------------------

    def push(
        self,
        text: str,
        *,
        author: str = "sandbox-customer",
        in_reply_to: str | None = None,
        lang: str | None = "en",
    ) -> SkyPost:
        """Post now as `author` (a handle, a bare X-style username or a brand), optionally replying to a URI."""
        return self._call(self.network.push, text, author, in_reply_to, lang)

    def push_record(self, record: Mapping[str, Any], *, author: str = "sandbox-customer") -> SkyPost:
        """Post a record exactly as given (any JSON: a createdAt no date can hold, fields of the wrong type):
        Jetstream sends it and search serves it as written, as Bluesky does for any record an app writes."""
        return self._call(self.network.push_record, record, author)

    def push_frame(self, frame: str) -> None:
        """One Jetstream frame exactly as given, kept in the log like any event: a cursor before it replays
        it, as the real Jetstream replays whatever it once sent."""
        self._call(self.network.push_frame, frame)

    def delete(self, uri: str, *, from_appview: bool = False) -> None:
        """The author deletes a post: a Jetstream delete event (the post stays in search, as on a lagging AppView).
        `from_appview`: the AppView has caught up, as it soon does: search no longer finds the post, and a thread
        view shows it as `notFoundPost` above its replies."""
        self._call(lambda: self.network.delete(uri, from_appview=from_appview))

    def identity(self, handle: str) -> None:
        """An identity event for an account (handle change or refresh), as Jetstream always sends them."""
        self._call(self.network.identity, handle)

    def keepalive(self) -> None:
        """A websocket ping on every open connection."""
        self._call(self.hub.ping)

    def send_raw(self, frame: str | bytes) -> None:
        """One frame as is to every open connection (str: a text frame, bytes: a binary one); never replayed."""
        self._call(self.hub.send_raw, frame)

    def error_frame(
        self, error: str = "ConsumerTooSlow", message: str = "consumer too slow", code: int = 1011
    ) -> None:
        """An error frame on every open connection, then a close with `code`."""
        self._call(self.hub.error, error, message, code)

    def drop(self) -> None:
        """Cut every open connection at once, without a close frame."""
        self._call(self.hub.drop_all)

    def stall(self, seconds: float) -> None:
        """Send nothing at all for this long: no events, no pings, no pongs (events queue up meanwhile).
        `stall(0)` ends a stall early."""
        self._call(self.hub.stall, seconds)

    def swallow(self, every: int = 1) -> None:
        """Keep every Jetstream connection open, pings and pongs answered, but leave out every `every`th post
        (1: every one, 0: send them all again); the posts still exist and search finds them. A reconnect's replay
        is swallowed the same way while this lasts. `hub.swallowed` lists them."""
        self._call(self.hub.swallow, every)

    def fail_next_connect(self, status: int, count: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next `count` websocket upgrades with this HTTP status, after any already scripted
        (count=0 clears them all). `retry_after` (seconds or an HTTP date) is then the only Retry-After header,
        and a 429 carries no ratelimit-reset."""
        self._call(self._set_failures, status, count, retry_after)

    def set_rate_limit(self, remaining: int, reset_in: float | None = None) -> None:
        """What is left of the XRPC budget, refilled `reset_in` seconds from now; 0 provokes a 429."""
        self._call(self.budget.set_remaining, remaining, reset_in)

    # -- used by the endpoints (loop thread) -----------------------------------------------------------------

    def log_request(self, entry: dict[str, Any]) -> None:
        self._requests.append(entry)

    def search(self, query: str, *, since: str | None = None, until: str | None = None) -> list[SkyPost]:
        return self.network.search(query, since=_when(since), until=_when(until))

    def thread(self, uri: str, *, depth: int, parent_height: int) -> dict[str, Any] | None:
        return self.network.thread(uri, depth=depth, parent_height=parent_height)

    def create_post(self, did: str, record: dict[str, Any]) -> SkyPost:
        return self.network.create(did, record)

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        if self._connect_failures:
            status, retry_after = self._connect_failures.pop(0)
            headers = {}
            if retry_after is not None:
                headers = {"Retry-After": retry_after}
            elif status == 429:
                headers = {
                    "Retry-After": str(int(self.retry_after)),
                    "ratelimit-reset": str(int(time.time() + self.retry_after)),
                    "ratelimit-remaining": "0",
                }
            return web.Response(status=status, text=f"sandbox refused the connect: {status}", headers=headers)
        raw_cursor = request.query.get("cursor")
        try:
            cursor = int(raw_cursor) if raw_cursor else None
        except ValueError:
            return web.Response(status=400, text="cursor must be an integer time_us")
        wanted = set(request.query.getall("wantedCollections", []))
        return await self.hub.serve(request, cursor, wanted or {"app.bsky.feed.post"})

    # -- internals (loop thread only) ------------------------------------------------------------------------

    def _set_failures(self, status: int, count: int, retry_after: str | None = None) -> None:
        self._connect_failures = self._connect_failures + [(status, retry_after)] * count if count else []

    def _emit_next(self, now: float | None = None, at_ms: int | None = None) -> SkyPost | None:
        tweet = self._next_from_corpus(self.ids, now, at_ms)
        return self.network.from_tweet(tweet, historic=at_ms is not None) if tweet is not None else None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


def sandbox_settings(base_url: str, jetstream_url: str | None = None, **overrides: Any) -> BlueskySettings:
    """Settings for a collector or sender talking to this sandbox (it takes any password)."""
    values: dict[str, Any] = {
        "enabled": True,
        "base_url": base_url,
        "jetstream_url": jetstream_url or "ws" + base_url[len("http") :],
        "handle": "sandbox-desk.bsky.social",
        "app_password": SecretStr("sandbox-app-password"),
    }
    values.update(overrides)
    return BlueskySettings(**values)


class BlueskySandboxThread(SandboxThread[BlueskySandbox]):
    """The Bluesky sandbox in a background thread with its own event loop, for sync tests and `earful demo`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(BlueskySandbox(**options), name="bluesky-sandbox")

    @property
    def jetstream_url(self) -> str:
        return self.sandbox.jetstream_url
