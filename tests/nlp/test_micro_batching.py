"""next_batch: up to N items or T seconds after the first, whichever comes first."""

from __future__ import annotations

import asyncio
import time

import pytest

from nlp.batching import next_batch


async def test_full_batch_returns_without_waiting_for_the_deadline() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(10):
        queue.put_nowait(i)
    started = time.monotonic()
    batch = await next_batch(queue, max_items=4, max_wait=5.0)
    assert batch == [0, 1, 2, 3]
    assert time.monotonic() - started < 0.5
    assert queue.qsize() == 6


async def test_deadline_cuts_a_partial_batch() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def trickle() -> None:
        for i in range(20):
            queue.put_nowait(i)
            await asyncio.sleep(0.03)

    producer = asyncio.create_task(trickle())
    started = time.monotonic()
    batch = await next_batch(queue, max_items=100, max_wait=0.1)
    elapsed = time.monotonic() - started
    producer.cancel()
    assert 0.09 <= elapsed < 0.5
    assert 2 <= len(batch) <= 6
    assert batch == list(range(len(batch)))  # order kept, nothing lost


async def test_waits_for_the_first_item_then_starts_the_clock() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def late() -> None:
        await asyncio.sleep(0.08)
        queue.put_nowait("a")
        await asyncio.sleep(0.02)
        queue.put_nowait("b")

    producer = asyncio.create_task(late())
    batch = await next_batch(queue, max_items=10, max_wait=0.05)
    await producer
    assert batch == ["a", "b"]


async def test_single_item_batch_and_zero_wait() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    queue.put_nowait(1)
    assert await next_batch(queue, max_items=1, max_wait=1.0) == [1]
    queue.put_nowait(2)
    queue.put_nowait(3)
    assert await next_batch(queue, max_items=5, max_wait=0.0) == [2, 3]


async def test_rejects_empty_batches() -> None:
    with pytest.raises(ValueError):
        await next_batch(asyncio.Queue(), max_items=0, max_wait=0.1)
