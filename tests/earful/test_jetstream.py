"""The JetStream bus against the real NATS server: several workers, one stream, every mention stored once, and a
worker that dies holding a batch loses nothing."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest
from sqlmodel import func, select

from earful.app import PipelineThread
from earful.pipeline import Pipeline
from earful.settings import Settings
from listener.jetstream import BusSettings, JetStreamBus
from nlp.schema import Classification
from store import Store
from store.models import Mention

NATS_URL = os.environ.get("EARFUL_TEST_NATS_URL", "nats://127.0.0.1:4222")


class FixedClassifier:
    """Stands in for the model where only the bus is under test (the model has its own tests)."""

    def __init__(self) -> None:
        self.seen = 0

    def classify(self, inputs):
        self.seen += len(inputs)
        return [
            Classification("negative", {"negative": 1.0}, 0.9, 2, "Disapproval", 55, "high") for _ in inputs
        ]


@pytest.fixture
def bus_settings():
    name = f"EARFUL_TEST_{uuid.uuid4().hex[:8]}"
    settings = BusSettings(
        kind="jetstream", url=NATS_URL, stream=name, subject=f"earful.test.{name}", durable=f"w{name}",
        ack_wait_seconds=1.0,
    )  # fmt: skip
    yield settings
    asyncio.run(_delete_stream(settings))


async def _delete_stream(settings: BusSettings) -> None:
    import nats

    nc = await nats.connect(settings.url)
    try:
        await nc.jetstream().delete_stream(settings.stream)
    except Exception:
        pass
    await nc.close()


class Publisher:
    """A collector that hands over a list once, then idles: what `earful serve` does with JetStream."""

    def __init__(self, pipeline: Pipeline, mentions: list) -> None:
        self.pipeline, self.mentions = pipeline, mentions
        self.done = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        for mention in self.mentions:
            self.pipeline.publish(mention)
        self.done.set()
        self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


def worker(store: Store, settings: Settings) -> tuple[PipelineThread, FixedClassifier]:
    fixed = FixedClassifier()
    pipeline = Pipeline(settings, store, classifier_factory=lambda: fixed, collectors=lambda p: [])
    runner = PipelineThread(pipeline).start()
    assert pipeline.ready.wait(30)
    return runner, fixed


def publish(store: Store, settings: Settings, mentions: list) -> None:
    holder: list[Publisher] = []

    def collectors(p: Pipeline) -> list[Publisher]:
        holder.append(Publisher(p, mentions))
        return holder

    runner = PipelineThread(Pipeline(settings, store, collectors=collectors, consume=False)).start()
    try:
        assert runner.pipeline.ready.wait(30)
        assert holder and holder[0].done.wait(60), "the publisher did not finish"
    finally:
        runner.stop()
    assert runner.error is None


def counts(store: Store) -> tuple[int, int]:
    with store.read() as s:
        total = s.exec(select(func.count()).select_from(Mention)).one()
        distinct = s.exec(select(func.count(func.distinct(Mention.native_id)))).one()
    return total, distinct


def wait_stored(store: Store, n: int, limit: float = 60) -> None:
    import time

    deadline = time.monotonic() + limit
    while counts(store)[0] < n:
        assert time.monotonic() < deadline, f"only {counts(store)[0]} of {n} stored"
        time.sleep(0.05)


def test_two_workers_on_one_stream_store_every_mention_once(sqlite_store, make_mention, bus_settings):
    settings = Settings(bus=bus_settings)
    mentions = [
        make_mention(f"js{i}", conversation=f"c{i % 9}", author=f"u{i % 13}").mention for i in range(300)
    ]
    # The same mention published twice (a backfill overlapping the stream): JetStream keeps one.
    mentions += mentions[:20]
    a, fixed_a = worker(sqlite_store, settings)
    b, fixed_b = worker(sqlite_store, settings)
    try:
        publish(sqlite_store, settings, mentions)
        wait_stored(sqlite_store, 300)
    finally:
        a.stop()
        b.stop()
    assert a.error is None and b.error is None
    assert counts(sqlite_store) == (300, 300)
    # Both took part, and between them classified each mention once (no double work from the duplicates).
    assert fixed_a.seen > 0 and fixed_b.seen > 0
    assert fixed_a.seen + fixed_b.seen == 300


def test_a_worker_that_dies_holding_a_batch_loses_nothing(sqlite_store, make_mention, bus_settings):
    settings = Settings(bus=bus_settings)
    mentions = [make_mention(f"d{i}", conversation=f"c{i % 5}").mention for i in range(50)]
    publish(sqlite_store, settings, mentions)

    async def take_a_batch_and_die() -> int:
        bus = JetStreamBus(asyncio.get_running_loop(), bus_settings, consume=True)
        await bus.start()
        batch = await bus.next_batch(max_items=20, max_wait=1.0)
        # No ack, no nak: the connection just goes, as when the process is killed.
        await bus._nc.close()
        return len(batch.mentions)

    held = asyncio.run(take_a_batch_and_die())
    assert held == 20
    survivor, fixed = worker(sqlite_store, settings)
    try:
        wait_stored(sqlite_store, 50)
    finally:
        survivor.stop()
    assert survivor.error is None
    assert counts(sqlite_store) == (50, 50)
    assert isinstance(survivor.pipeline.bus, JetStreamBus)
    assert survivor.pipeline.bus.redelivered >= 20
