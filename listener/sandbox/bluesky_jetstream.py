"""The sandbox's Jetstream v1: `GET /subscribe` websockets, one JSON event per text frame, replay from `cursor`.

Every event ever emitted is kept in one log ordered by `time_us`. A connection is just a position in that log:
with `cursor=<time_us>` it starts at the first event at or after it (so a reconnect resumes), without one at the
end (live only). Scripted faults (raw frames, error frames, pings) go to the connections open at that moment
and are never replayed. Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from listener.sandbox import wire

_CLOSED_TYPES = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


@dataclass
class _Entry:
    time_us: int
    text: str
    collection: str | None
    uri: str | None


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    request: web.Request
    position: int
    wanted: set[str]
    extras: deque[tuple[str, Any]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    cursor: int | None = None


class JetstreamHub:
    def __init__(self, keepalive: float, on_delivered: Callable[[str], None]) -> None:
        self.keepalive = keepalive
        self.on_delivered = on_delivered
        self._log: list[_Entry] = []
        self._times: list[int] = []
        self._open: set[_Connection] = set()
        self._stall_until = 0.0
        self._stall_changed = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        # Live but silent: every `swallow_every`th post is left out (1: all), pings and pongs go on.
        self.swallow_every = 0
        self._posts = 0
        self.swallowed: list[str] = []
        # (cursor or None) per accepted connection, in order: what each reconnect asked to resume from.
        self.cursors: list[int | None] = []

    def __len__(self) -> int:
        return len(self._open)

    # -- what is emitted ---------------------------------------------------------------------------------------

    def append(self, event: dict[str, Any], uri: str | None = None) -> None:
        commit = event.get("commit")
        collection = commit.get("collection") if isinstance(commit, dict) else None
        entry = _Entry(int(event["time_us"]), wire.dumps(event), collection, uri)
        self._log.append(entry)
        self._times.append(entry.time_us)
        for connection in self._open:
            connection.wake.set()

    def append_text(self, time_us: int, text: str) -> None:
        """A frame exactly as given, at `time_us` in the log (its own `time_us` field may say anything)."""
        text.encode("utf-8")  # a text frame is UTF-8: refused here, not halfway through a connection
        self._log.append(_Entry(time_us, text, None, None))
        self._times.append(time_us)
        for connection in self._open:
            connection.wake.set()

    def _to_open(self, kind: str, value: Any = None) -> None:
        for connection in self._open:
            connection.extras.append((kind, value))
            connection.wake.set()

    def send_raw(self, text: str | bytes) -> None:
        if isinstance(text, str):
            # A websocket text frame is UTF-8 by definition: refuse here, not in the middle of a connection.
            text.encode("utf-8")
        self._to_open("raw", text)

    def ping(self) -> None:
        self._to_open("ping")

    def error(self, error: str, message: str, code: int) -> None:
        self._to_open("raw", wire.dumps({"error": error, "message": message}))
        self._to_open("close", (code, message))

    def drop_all(self) -> None:
        """Cut every connection at once, mid-stream, without a close frame (a network cut)."""
        for connection in list(self._open):
            connection.dropped = True
            self._open.discard(connection)
            transport = connection.request.transport
            if transport is not None:
                transport.abort()
            connection.wake.set()

    async def close(self) -> None:
        """Cut every connection and let their handlers finish before the loop goes away."""
        self.drop_all()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=2.0)

    def stall(self, seconds: float) -> None:
        self._stall_until = asyncio.get_running_loop().time() + seconds
        self._stall_changed.set()

    def swallow(self, every: int) -> None:
        self.swallow_every, self._posts = max(0, every), 0

    def _swallowed(self, uri: str | None) -> bool:
        if uri is None or not self.swallow_every:
            return False
        self._posts += 1
        if self._posts % self.swallow_every:
            return False
        self.swallowed.append(uri)
        return True

    def stalled(self) -> bool:
        return asyncio.get_running_loop().time() < self._stall_until

    async def _stall_wait(self) -> None:
        loop = asyncio.get_running_loop()
        while (left := self._stall_until - loop.time()) > 0:
            # Woken early when the stall is changed (stall(0) ends it).
            self._stall_changed.clear()
            try:
                await asyncio.wait_for(self._stall_changed.wait(), left)
            except TimeoutError:
                pass

    # -- one connection ----------------------------------------------------------------------------------------

    async def serve(
        self, request: web.Request, cursor: int | None, wanted: set[str]
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, timeout=1.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        start = bisect.bisect_left(self._times, cursor) if cursor is not None else len(self._log)
        connection = _Connection(ws, request, start, wanted, cursor=cursor)
        self._open.add(connection)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        self.cursors.append(cursor)
        reader = asyncio.create_task(self._read(connection))
        try:
            await self._send_loop(connection)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._open.discard(connection)
            if not connection.dropped and not ws.closed:
                try:
                    await ws.close()
                except (ConnectionError, RuntimeError):
                    pass
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return ws

    async def _send_loop(self, connection: _Connection) -> None:
        ws = connection.ws
        while not connection.dropped and not ws.closed:
            await self._stall_wait()
            if connection.dropped or ws.closed:
                return
            if connection.extras:
                kind, value = connection.extras.popleft()
                if kind == "raw":
                    await (ws.send_bytes(value) if isinstance(value, bytes) else ws.send_str(value))
                elif kind == "ping":
                    await ws.ping()
                elif kind == "close":
                    code, message = value
                    await ws.close(code=code, message=message.encode()[:120])
                    return
                continue
            if connection.position < len(self._log):
                entry = self._log[connection.position]
                connection.position += 1
                if entry.collection is not None and entry.collection not in connection.wanted:
                    continue
                if self._swallowed(entry.uri):
                    continue
                await ws.send_str(entry.text)
                if entry.uri is not None:
                    self.on_delivered(entry.uri)
                continue
            connection.wake.clear()
            try:
                await asyncio.wait_for(connection.wake.wait(), self.keepalive)
            except TimeoutError:
                if not self.stalled():
                    await ws.ping()

    async def _read(self, connection: _Connection) -> None:
        """Answer the client's pings (unless stalled: then the server is silent in every way) and notice its close."""
        ws = connection.ws
        while True:
            message = await ws.receive()
            if message.type in _CLOSED_TYPES:
                connection.wake.set()
                return
            if message.type is WSMsgType.PING and not self.stalled():
                await ws.pong(message.data)
