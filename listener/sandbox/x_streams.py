"""The sandbox's open `GET /2/tweets/search/stream` connections: what each gets, keep-alives, drops, stalls.

Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

from aiohttp import web

from listener.sandbox.replay import SandboxTweet
from listener.sandbox.streaming import Hub, Stream
from listener.sandbox.x_wire import Fields, stream_line

KEEPALIVE = b"\r\n"


class _Stream(Stream):
    def __init__(self, fields: Fields, request: web.Request) -> None:
        super().__init__(request)
        self.fields = fields


class StreamHub(Hub[_Stream]):
    def send_tweet(self, tweet: SandboxTweet, rules: list[dict[str, str]]) -> None:
        # Rendered per connection: each asked for its own expansions and fields.
        for stream in self._streams:
            stream.queue.put_nowait((stream_line(tweet, stream.fields, rules), tweet.id))

    async def serve(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        # X ends a stream cleanly after an operational-disconnect frame: `close_all()`.
        return await self.pump(
            _Stream(Fields.from_query(request.query), request), response, keepalive=KEEPALIVE
        )
