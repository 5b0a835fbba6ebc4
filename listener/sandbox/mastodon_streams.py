"""The sandbox's open SSE connections (`/api/v1/streaming/...`): what each gets, heartbeats, drops, stalls.

Framing is Mastodon's streaming server's: `:)` on connect, `:thump` heartbeats, and `event: NAME` /
`data: JSON` / blank line per event. Everything here runs on the sandbox's event loop thread."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from listener.sandbox.mastodon_wire import HEARTBEAT, HELLO
from listener.sandbox.streaming import Hub, Stream


class _Stream(Stream):
    def __init__(self, kind: str, tag: str | None, request: web.Request) -> None:
        super().__init__(request)
        self.kind = kind  # "hashtag", "notification" or "user" (home timeline and notifications)
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


@dataclass(frozen=True)
class Framing:
    """How events are written: Mastodon's own way by default, or any other the SSE standard allows (what a
    proxy in front of Mastodon, or another server speaking its API, may send)."""

    line_end: bytes = b"\n"  # b"\r\n" or b"\r" are as valid
    space: bool = True  # `data: x`; without it `data:x`, the same field
    split_data: bool = False  # the JSON over several `data:` lines, joined with LF by the reader
    extras: bool = False  # a comment, an `id:` and a `retry:` field inside each event

    def write(self, event: bytes) -> bytes:
        if self == Framing():
            return event
        out: list[bytes] = []
        if self.extras:
            out += [b": relayed by a proxy", b"id: 42", b"retry: 3000"]
        for line in event.rstrip(b"\n").split(b"\n"):
            field, _, value = line.partition(b": ")
            values = [value]
            if self.split_data and field == b"data":
                try:
                    values = json.dumps(json.loads(value), indent=1, ensure_ascii=False).encode().split(b"\n")
                except ValueError:
                    pass  # a test's odd bytes: as they are
            out += [field + (b": " if self.space else b":") + item for item in values]
        return self.line_end.join(out) + self.line_end * 2
