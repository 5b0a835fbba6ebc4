"""What every sandbox's long-lived HTTP streams share: a queue per connection, keep-alives, clean closes,
drops (a network cut) and stalls (an open but silent connection). Each network adds its own framing.

Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from aiohttp import web

CLOSE = b""  # queued to end a stream cleanly, after what is already queued


class Stream:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.queue: asyncio.Queue[tuple[bytes, str | None]] = asyncio.Queue()
        self.dropped = False


S = TypeVar("S", bound=Stream)


class Hub(Generic[S]):
    def __init__(self, keepalive: float, on_delivered: Callable[[str], None]) -> None:
        self.keepalive = keepalive
        self.on_delivered = on_delivered
        self._streams: set[S] = set()
        self._stall_until = 0.0
        self.opened = 0
        # Live but silent: every `swallow_every`th post is not written (1: none is), keep-alives go on.
        self.swallow_every = 0
        self._posts = 0
        self.swallowed: list[str] = []

    def __len__(self) -> int:
        return len(self._streams)

    def broadcast(self, data: bytes) -> None:
        for stream in self._streams:
            stream.queue.put_nowait((data, None))

    def close_all(self) -> None:
        """End every stream cleanly (a complete chunked body), after what is already queued."""
        self.broadcast(CLOSE)

    def drop_all(self) -> None:
        """Abort every connection at once: queued and half-written data is lost, like a network cut."""
        for stream in list(self._streams):
            stream.dropped = True
            self._streams.discard(stream)
            transport = stream.request.transport
            if transport is not None:
                transport.abort()
            stream.queue.put_nowait((CLOSE, None))  # wake its handler now, not at the next keep-alive

    def stall(self, seconds: float) -> None:
        self._stall_until = asyncio.get_running_loop().time() + seconds

    def swallow(self, every: int) -> None:
        """Keep every connection open with its keep-alives, but drop every `every`th post on the way out (1:
        all of them, 0: none): a streaming endpoint that stays up and stops telling."""
        self.swallow_every, self._posts = max(0, every), 0

    def _swallowed(self, item_id: str) -> bool:
        if not self.swallow_every:
            return False
        self._posts += 1
        if self._posts % self.swallow_every:
            return False
        self.swallowed.append(item_id)
        return True

    async def _stall_wait(self) -> None:
        # Checked before and after each queue wait, so a stall extended meanwhile is honoured too.
        left = self._stall_until - asyncio.get_running_loop().time()
        if left > 0:
            await asyncio.sleep(left)

    async def pump(
        self, stream: S, response: web.StreamResponse, *, keepalive: bytes, hello: bytes = b""
    ) -> web.StreamResponse:
        """Write what is queued for `stream` (a keep-alive when nothing is) until it closes or drops."""
        self._streams.add(stream)
        self.opened += 1
        try:
            if hello:
                await self._stall_wait()
                await response.write(hello)
            while not stream.dropped:
                await self._stall_wait()
                try:
                    data, item_id = await asyncio.wait_for(stream.queue.get(), self.keepalive)
                except TimeoutError:
                    data, item_id = keepalive, None
                await self._stall_wait()
                if stream.dropped or data == CLOSE:
                    break
                if item_id is not None and self._swallowed(item_id):
                    await response.write(keepalive)
                    continue
                await response.write(data)
                if item_id is not None:
                    self.on_delivered(item_id)
        except ConnectionError:
            pass
        finally:
            self._streams.discard(stream)
        if stream.dropped:
            # The socket is gone; tell aiohttp not to finish the chunked body on it.
            raise asyncio.CancelledError
        return response
