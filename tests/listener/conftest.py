"""Fixtures for the listener: a real sandbox on 127.0.0.1, real tweepy clients, a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bluesky_testkit import bluesky_server, run_bluesky, sandbox_threads  # noqa: F401
from x_testkit import FAST, RunningCollector, StoreSink, x_settings

from listener.config import BrandSettings
from listener.health import HealthEvent
from listener.sandbox.x import XSandboxThread
from listener.x import XCollector
from store import Store


@pytest.fixture
def store_sink(sqlite_store: Store) -> StoreSink:
    return StoreSink(sqlite_store)


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., XSandboxThread]]:
    yield from sandbox_threads(XSandboxThread, keepalive=0.2)


@pytest.fixture
def run_collector(store_sink: StoreSink) -> Iterator[Callable[..., RunningCollector]]:
    running: list[RunningCollector] = []

    def start(base_url: str, brands: list[BrandSettings], **settings: Any) -> RunningCollector:
        health: list[HealthEvent] = []
        collector = XCollector(
            x_settings(base_url, **settings),
            brands,
            sink=store_sink.sink,
            put_aside=store_sink.put_aside,
            get_cursor=store_sink.get_cursor,
            on_health=health.append,
            backoff=FAST,
        )
        thread = threading.Thread(target=collector.run, name="test-x-collector", daemon=True)
        thread.start()
        handle = RunningCollector(collector, thread, health)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.collector.stop()
        handle.thread.join(timeout=10)
        assert not handle.thread.is_alive(), "the collector did not stop"
