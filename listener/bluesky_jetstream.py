"""Bluesky's live posts from Jetstream v1 (`/subscribe?wantedCollections=app.bsky.feed.post&cursor=<time_us>`,
one JSON event per text frame), through the `websockets` sync client.

Jetstream delivers every post of the network in `time_us` order and replays from any `cursor` it still holds,
so zero loss needs only this: connect from the stored cursor minus `rewind_seconds`, and move the cursor with
each delivered post. Events before a post are all handled before it, so a cursor never skips one. A first start
(no cursor) begins `rewind_seconds` ago; what was posted before that is the search source's first backfill.

Jetstream may still fail to send a post (a server that drops frames, or pings and nothing else); what search
can find, the supervisor's reconciliation finds (`reconcile`: each brand's search pass, every
`standby_seconds`, and every `quiet_seconds` while no frame comes), and a silent connection that missed posts
is reopened, replaying from the cursor."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import urlencode

from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.sync.client import ClientConnection, connect

from listener.bluesky_api import Api, resolve_accounts
from listener.bluesky_context import BlueskyContext
from listener.bluesky_normalise import NETWORK, POST_COLLECTION, Brands, Malformed, parse_frame, to_mention
from listener.config import BlueskySettings
from listener.health import SourceState
from listener.source import (
    BackoffPolicy,
    ConnectionLost,
    Fatal,
    RateLimited,
    Refused,
    SourceContext,
    retry_after,
)
from store.incoming import NewMention

log = logging.getLogger(__name__)

SOURCE = "bluesky:jetstream"
_TICK = 0.25  # how often a blocked read looks at `stopping`
_MAX_WS_FRAME = (
    16 * 1024 * 1024
)  # above max_frame_bytes: a big frame is put aside by us, not a dropped socket


class Link:
    """What the search source needs to know of Jetstream: whether it is streaming right now."""

    def __init__(self) -> None:
        self.live = threading.Event()


class _Connection(ClientConnection):
    """Tells the source about every frame, pings and pongs included: they prove the socket is alive."""

    on_frame: Any = None

    def process_event(self, event: Any) -> None:
        super().process_event(event)
        callback = self.on_frame
        if callback is not None and isinstance(event, WsFrame) and event.opcode in (Opcode.PING, Opcode.PONG):
            callback()


class SearchPass(Protocol):
    """A brand's search pass (listener.bluesky_search.SearchSource), run for Jetstream's reconciliation."""

    def reconcile_pass(self, ctx: SourceContext) -> int: ...


class JetstreamSource:
    network = NETWORK
    name = SOURCE

    def __init__(
        self, settings: BlueskySettings, brands: Brands, api: Api, link: Link, policy: BackoffPolicy
    ) -> None:
        self.settings = settings
        self.brands = brands
        self.api = api
        self.link = link
        self.policy = policy
        # Two ping intervals without a frame, a ping or a pong.
        self.stall_after = settings.read_timeout
        self.reconcile_every = settings.standby_seconds
        self.quiet_after = settings.quiet_seconds
        # Each brand's search, set by build_sources (the search sources hold the cursors they move).
        self.searches: list[SearchPass] = []
        self.context_limit = settings.thread_context
        self.context = BlueskyContext(settings, brands, api.profiles)
        self._conn: _Connection | None = None
        self._aborts = 0
        self._lock = threading.Lock()

    # -- Source ----------------------------------------------------------------------------------------------

    def session(self, ctx: SourceContext) -> None:
        with self._lock:
            aborts = self._aborts
        try:
            resolve_accounts(ctx, self.api, self.brands)
            start = self._start_us(ctx)
            conn = self._connect(ctx, start)
            with self._lock:
                if self._aborts != aborts or ctx.stopping.is_set():
                    conn.close_socket()
                    raise ConnectionLost("aborted while connecting")
                self._conn = conn
            try:
                self._stream(ctx, conn, start)
            finally:
                with self._lock:
                    self._conn = None
                conn.close_socket()
        finally:
            self.link.live.clear()

    def reconcile(self, ctx: SourceContext) -> None:
        """Every brand's search from its cursor (the supervisor's turn, on its thread)."""
        for search in self.searches:
            if ctx.stopping.is_set():
                return
            search.reconcile_pass(ctx)

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """What the mention replies to, up the conversation (listener/bluesky_context.py)."""
        return self.context.ancestors(ctx, mention)

    def abort(self) -> None:
        with self._lock:
            self._aborts += 1
            conn = self._conn
        if conn is not None:
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- internals -------------------------------------------------------------------------------------------

    def _start_us(self, ctx: SourceContext) -> int:
        stored = ctx.cursor()
        base = int(stored) if stored and stored.isdigit() else int(ctx.now() * 1_000_000)
        return max(1, base - int(self.settings.rewind_seconds * 1_000_000))

    def url(self, cursor: int) -> str:
        query = urlencode({"wantedCollections": POST_COLLECTION, "cursor": str(cursor)})
        return f"{self.settings.jetstream_url}/subscribe?{query}"

    def _connect(self, ctx: SourceContext, cursor: int) -> _Connection:
        interval = self.settings.read_timeout / 2
        try:
            conn = connect(
                self.url(cursor),
                open_timeout=self.settings.read_timeout,
                ping_interval=interval,
                ping_timeout=interval,
                close_timeout=min(1.0, interval),
                max_size=_MAX_WS_FRAME,
                create_connection=_Connection,
                user_agent_header="earful (social listening desk)",
                # The connection outlives this call (abort() and the stream loop share it): no context manager.
                legacy=True,
            )
        except InvalidStatus as exc:
            raise _refusal(exc.response.status_code, exc.response.headers, ctx.now()) from None
        except InvalidURI as exc:
            raise Fatal(f"bluesky.jetstream_url is not a websocket URL: {exc}") from None
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise ConnectionLost(f"could not reach Jetstream: {type(exc).__name__}: {exc}") from None
        assert isinstance(conn, _Connection)
        conn.on_frame = ctx.alive
        return conn

    def _stream(self, ctx: SourceContext, conn: _Connection, start: int) -> None:
        ctx.connected()
        caught_up_at = int(time.time() * 1_000_000) - 1_000_000
        live = False
        ctx.state(SourceState.BACKFILLING, f"replaying from cursor {start}")
        matches = self.api.lookup(ctx)
        while not ctx.stopping.is_set():
            try:
                data = conn.recv(timeout=_TICK)
            except TimeoutError:
                if not live:
                    live = self._live(ctx)
                continue
            except ConnectionClosedOK as exc:
                if ctx.stopping.is_set():
                    return
                if exc.rcvd is not None and exc.rcvd.code == 1000:
                    return  # a clean close (a deploy): the supervisor reconnects from the cursor
                raise ConnectionLost(f"Jetstream closed the connection: {exc}") from None
            except ConnectionClosed as exc:
                if ctx.stopping.is_set():
                    return
                raise ConnectionLost(f"Jetstream connection lost: {exc}") from None
            ctx.event()
            seen = self._handle(ctx, data, matches)
            if not live and seen is not None and seen >= caught_up_at:
                live = self._live(ctx)

    def _live(self, ctx: SourceContext) -> bool:
        self.link.live.set()
        ctx.state(SourceState.LIVE)
        return True

    def _handle(self, ctx: SourceContext, data: str | bytes, lookup: Any) -> int | None:
        """Deliver the post a frame holds, if it is about a brand; return the frame's time_us."""
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        try:
            frame = parse_frame(data, max_bytes=self.settings.max_frame_bytes)
        except Malformed as exc:
            ctx.put_aside(exc.reason, raw)
            return None
        if frame.error is not None:
            ctx.state(SourceState.WARNING, f"Jetstream sent an error: {frame.error[:200]}")
            return None
        post = frame.post
        if post is None:
            return frame.time_us
        try:
            brand = self.brands.brand_of(post, lookup)
            if brand is None:
                return frame.time_us
            author = self.api.profile(ctx, post.did)
            mention = to_mention(
                post, brand=brand, author=author, is_own=self.brands.dids.get(post.did) == brand
            )
        except Malformed as exc:  # an unreadable profile, or what the store refuses: this post's fault alone
            ctx.put_aside(exc.reason, raw)
            return frame.time_us
        ctx.deliver(mention, cursor=str(post.seen_us))
        return frame.time_us


def _refusal(status: int, headers: Any, now: float) -> Exception:
    # Retry-After (seconds or an HTTP date) first: it is this answer's own word on when to come back.
    until = retry_after(headers, now)
    if status == 429:
        if until is None:
            try:
                reset = headers.get("ratelimit-reset")
                until = float(reset) if reset is not None else None
            except ValueError:
                until = None
        return RateLimited("Jetstream refused the connection: 429 too many connections", until=until)
    if status in (401, 403):
        return Fatal(f"Jetstream refused the connection: HTTP {status}; check bluesky.jetstream_url")
    if status == 404:
        return Fatal(
            "Jetstream answered 404: bluesky.jetstream_url must be a Jetstream host (without /subscribe)"
        )
    return Refused(status, "Jetstream refused the connection", until=until)
