"""Micro-batching: classifier workers take up to N mentions or whatever arrived within T, whichever first.

One encoder pass over 32 mentions costs little more than a pass over one, so batching buys throughput,
and the time cap bounds the latency a lone mention pays for it.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def next_batch(queue: asyncio.Queue[T], *, max_items: int, max_wait: float) -> list[T]:
    """Wait (without limit) for the first item, then collect more until `max_items` are in hand or
    `max_wait` seconds have passed since the first arrived. Items already queued are taken at once.

    Does not call `queue.task_done()`; the caller does, once the batch is processed.
    """
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    batch = [await queue.get()]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(max_wait, 0.0)
    while len(batch) < max_items:
        try:
            batch.append(queue.get_nowait())
            continue
        except asyncio.QueueEmpty:
            pass
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            batch.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    return batch
