"""The sandbox's open SSE connections (`/api/v1/streaming/...`): what each gets, heartbeats, drops, stalls.

Framing is Mastodon's streaming server's: `:)` on connect, `:thump` heartbeats, and `event: NAME` /
`data: JSON` / blank line per event. Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

from aiohttp import web

from listener.sandbox.mastodon_wire import HEARTBEAT, HELLO
from listener.sandbox.streaming import Hub, Stream


class _Stream(Stream):
    def __init__(self, kind: str, tag: str | None, request: web.Request) -> None:
        super().__init__(request)
        self.kind = kind  # "hashtag" or "notification"
        self.tag = tag


class StreamHub(Hub[_Stream]):
    def kinds(self) -> list[str]:
        return sorted(f"{s.kind}:{s.tag}" if s.tag else s.kind for s in self._streams)

    def send(self, kind: str, tag: str | None, data: bytes, item_id: str) -> None:
        for stream in self._streams:
            if stream.kind == kind and (tag is None or (stream.tag or "").lower() == tag.lower()):
                stream.queue.put_nowait((data, item_id))

    async def serve(self, request: web.Request, kind: str, tag: str | None) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "private, no-store"},
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        return await self.pump(_Stream(kind, tag, request), response, keepalive=HEARTBEAT, hello=HELLO)
