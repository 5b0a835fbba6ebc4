"""The sandbox's open SSE connections (`/api/v1/streaming/...`): what each gets, heartbeats, drops, stalls.

Framing is Mastodon's streaming server's: `:)` on connect, `:thump` heartbeats, and `event: NAME` /
`data: JSON` / blank line per event. Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from listener.sandbox.mastodon_wire import HEARTBEAT, HELLO

_CLOSE = b""


class _Stream:
    def __init__(self, kind: str, tag: str | None, request: web.Request) -> None:
        self.kind = kind  # "hashtag" or "notification"
        self.tag = tag
        self.request = request
        self.queue: asyncio.Queue[tuple[bytes, str | None]] = asyncio.Queue()
        self.dropped = False


class StreamHub:
    def __init__(self, keepalive: float, on_delivered: Callable[[str], None]) -> None:
        self.keepalive = keepalive
        self.on_delivered = on_delivered
        self._streams: set[_Stream] = set()
        self._stall_until = 0.0
        self.opened = 0

    def __len__(self) -> int:
        return len(self._streams)

    def kinds(self) -> list[str]:
        return sorted(f"{s.kind}:{s.tag}" if s.tag else s.kind for s in self._streams)

    def send(self, kind: str, tag: str | None, data: bytes, item_id: str) -> None:
        for stream in self._streams:
            if stream.kind == kind and (tag is None or (stream.tag or "").lower() == tag.lower()):
                stream.queue.put_nowait((data, item_id))

    def broadcast(self, data: bytes) -> None:
        for stream in self._streams:
            stream.queue.put_nowait((data, None))

    def close_all(self) -> None:
        """End every stream cleanly, after what is already queued."""
        self.broadcast(_CLOSE)

    def drop_all(self) -> None:
        """Abort every connection at once: queued and half-written events are lost, like a network cut."""
        for stream in list(self._streams):
            stream.dropped = True
            self._streams.discard(stream)
            transport = stream.request.transport
            if transport is not None:
                transport.abort()
            stream.queue.put_nowait((_CLOSE, None))

    def stall(self, seconds: float) -> None:
        self._stall_until = asyncio.get_running_loop().time() + seconds

    async def _stall_wait(self) -> None:
        left = self._stall_until - asyncio.get_running_loop().time()
        if left > 0:
            await asyncio.sleep(left)

    async def serve(self, request: web.Request, kind: str, tag: str | None) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "private, no-store"},
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = _Stream(kind, tag, request)
        self._streams.add(stream)
        self.opened += 1
        try:
            await self._stall_wait()
            await response.write(HELLO)
            while not stream.dropped:
                await self._stall_wait()
                try:
                    data, item_id = await asyncio.wait_for(stream.queue.get(), self.keepalive)
                except TimeoutError:
                    data, item_id = HEARTBEAT, None
                await self._stall_wait()
                if stream.dropped or data == _CLOSE:
                    break
                await response.write(data)
                if item_id is not None:
                    self.on_delivered(item_id)
        except ConnectionError:
            pass
        finally:
            self._streams.discard(stream)
        if stream.dropped:
            raise asyncio.CancelledError
        return response
