"""The bus between collectors and classifier workers.

Two kinds, one interface. Default: an in-process asyncio queue (`InProcessBus`). At team scale: NATS JetStream
(`listener.jetstream.JetStreamBus`), where collectors publish from one process and any number of `earful worker`
processes consume with explicit acks.

Collectors run in their own threads (the network clients block), so `publish` is thread-safe and returns only
once the bus holds the mention. The consumer side is async and takes micro-batches; it acknowledges a batch only
after the batch is stored, so a worker that dies mid-batch loses nothing (JetStream redelivers it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from store.incoming import NewMention


async def _nothing() -> None:
    return None


@dataclass
class Batch:
    mentions: list[NewMention]
    # True once the bus is closed and drained: there will be no batch after this one.
    ended: bool = False
    ack: Callable[[], Awaitable[None]] = field(default=_nothing)
    # Hand the batch back for redelivery (a worker stopping before it could store it).
    nak: Callable[[], Awaitable[None]] = field(default=_nothing)
    # Messages that were not mentions at all (reason, raw bytes): kept aside, acked with the batch.
    rejected: list[tuple[str, bytes]] = field(default_factory=list)


class Bus(Protocol):
    published: int

    async def start(self) -> None: ...

    def publish(self, mention: NewMention) -> None: ...

    async def next_batch(self, *, max_items: int, max_wait: float) -> Batch: ...

    async def close(self) -> None:
        """No more publishing; `next_batch` returns what this process still holds, then an ended batch."""
        ...

    async def disconnect(self) -> None:
        """After the consumer has finished: release the connection."""
        ...


# Marks the end of the stream on the in-process queue.
_END: Any = object()


class Batcher(Protocol):
    """Micro-batching over a queue (nlp.batching.next_batch): the classifier's policy, handed in by the
    pipeline, so the bus does not decide how the model likes its batches."""

    async def __call__(self, queue: asyncio.Queue[Any], *, max_items: int, max_wait: float) -> list[Any]: ...


class InProcessBus:
    def __init__(self, loop: asyncio.AbstractEventLoop, batcher: Batcher, *, maxsize: int = 0) -> None:
        self._loop = loop
        self._batcher = batcher
        self._queue: asyncio.Queue[NewMention] = asyncio.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._ended = False
        self.published = 0

    @property
    def queue(self) -> asyncio.Queue[NewMention]:
        return self._queue

    async def start(self) -> None:
        return None

    def publish(self, mention: NewMention) -> None:
        with self._lock:
            self.published += 1
        if self._loop.is_closed():
            raise RuntimeError("the pipeline has stopped; mention not accepted")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._queue.put_nowait(mention)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, mention)

    async def next_batch(self, *, max_items: int, max_wait: float) -> Batch:
        if self._ended:
            return Batch([], ended=True)
        items = await self._batcher(self._queue, max_items=max_items, max_wait=max_wait)
        self._ended = _END in items
        return Batch([m for m in items if m is not _END], ended=self._ended)

    async def close(self) -> None:
        # Queued behind every mention the collectors published, so the consumer drains them all first.
        self._queue.put_nowait(_END)

    async def disconnect(self) -> None:
        return None
