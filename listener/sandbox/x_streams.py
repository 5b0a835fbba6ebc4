"""The sandbox's open `GET /2/tweets/search/stream` connections: what each gets, keep-alives, drops, stalls.

Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from listener.sandbox.replay import SandboxTweet
from listener.sandbox.x_wire import Fields, stream_line

KEEPALIVE = b"\r\n"
_CLOSE = b""  # queued to end a stream cleanly, as X does after an operational-disconnect frame


class _Stream:
    def __init__(self, fields: Fields, request: web.Request) -> None:
        self.fields = fields
        self.request = request
        self.queue: asyncio.Queue[tuple[bytes, str | None]] = asyncio.Queue()
        self.dropped = False


class StreamHub:
    def __init__(self, keepalive: float, on_delivered: Callable[[str], None]) -> None:
        self.keepalive = keepalive
        self.on_delivered = on_delivered
        self._streams: set[_Stream] = set()
        self._stall_until = 0.0

    def __len__(self) -> int:
        return len(self._streams)

    def send_tweet(self, tweet: SandboxTweet, rules: list[dict[str, str]]) -> None:
        # Rendered per connection: each asked for its own expansions and fields.
        for stream in self._streams:
            stream.queue.put_nowait((stream_line(tweet, stream.fields, rules), tweet.id))

    def broadcast(self, data: bytes) -> None:
        for stream in self._streams:
            stream.queue.put_nowait((data, None))

    def close_all(self) -> None:
        """End every stream cleanly (a complete chunked body), after what is already queued."""
        self.broadcast(_CLOSE)

    def drop_all(self) -> None:
        """Abort every connection at once: queued and half-written lines are lost, like a network cut."""
        for stream in list(self._streams):
            stream.dropped = True
            self._streams.discard(stream)
            transport = stream.request.transport
            if transport is not None:
                transport.abort()
            stream.queue.put_nowait((_CLOSE, None))  # wake its handler now, not at the next keep-alive

    def stall(self, seconds: float) -> None:
        self._stall_until = asyncio.get_running_loop().time() + seconds

    async def _stall_wait(self) -> None:
        # Checked before and after each queue wait, so a stall extended meanwhile is honoured too.
        left = self._stall_until - asyncio.get_running_loop().time()
        if left > 0:
            await asyncio.sleep(left)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = _Stream(Fields.from_query(request.query), request)
        self._streams.add(stream)
        try:
            while not stream.dropped:
                await self._stall_wait()
                try:
                    data, tweet_id = await asyncio.wait_for(stream.queue.get(), self.keepalive)
                except TimeoutError:
                    data, tweet_id = KEEPALIVE, None
                await self._stall_wait()
                if stream.dropped or data == _CLOSE:
                    break
                await response.write(data)
                if tweet_id is not None:
                    self.on_delivered(tweet_id)
        except ConnectionError:
            pass
        finally:
            self._streams.discard(stream)
        if stream.dropped:
            # The socket is gone; tell aiohttp not to finish the chunked body on it.
            raise asyncio.CancelledError
        return response
