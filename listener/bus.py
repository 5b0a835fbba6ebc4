"""The bus between collectors and classifier workers. Default: an in-process asyncio queue.

Collectors run in their own threads (the network clients block), so `publish` is thread-safe; the classifier
side is async and takes micro-batches. A later JetStream bus keeps the same two methods.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

from store.incoming import NewMention


class Bus(Protocol):
    def publish(self, mention: NewMention) -> None: ...

    @property
    def queue(self) -> asyncio.Queue[NewMention]: ...


class InProcessBus:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, maxsize: int = 0) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[NewMention] = asyncio.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self.published = 0

    @property
    def queue(self) -> asyncio.Queue[NewMention]:
        return self._queue

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
