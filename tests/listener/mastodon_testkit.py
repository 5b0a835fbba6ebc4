"""Helpers for the Mastodon tests: a sandbox factory, a running supervisor over real sources and a real store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from x_testkit import StoreSink, wait_for

from listener.config import BrandSettings
from listener.health import HealthEvent
from listener.mastodon import build_sources
from listener.mastodon_source import MASTODON_POLICY
from listener.sandbox.mastodon import MastodonSandboxThread, sandbox_settings
from listener.supervisor import Supervisor

# Mastodon's waits a thousand times shorter: reconnects in milliseconds, same shape.
FAST = MASTODON_POLICY.scaled(0.001)
DELTA = BrandSettings(name="delta", terms=["#delta"], accounts={"mastodon": ["Delta"]}, networks=["mastodon"])

__all__ = [
    "DELTA",
    "FAST",
    "Running",
    "StoreSink",
    "mastodon_server",
    "start_supervisor",
    "supervise",
    "wait_for",
]


class Running:
    def __init__(self, supervisor: Supervisor, thread: threading.Thread, health: list[HealthEvent]) -> None:
        self.supervisor = supervisor
        self.thread = thread
        self.health = health

    def states(self, source: str | None = None) -> list[str]:
        return [str(e.state) for e in list(self.health) if source is None or e.source == source]

    def live(self) -> bool:
        """Every source has caught up at least once."""
        return all("streaming" in self.states(r.source) for r in self.supervisor.runners)

    def reconnects(self, source: str) -> int:
        return next(r.reconnects for r in self.supervisor.runners if r.source == source)

    def stop(self) -> None:
        self.supervisor.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the supervisor did not stop"


def start_supervisor(
    base_url: str,
    sink: StoreSink,
    brands: list[BrandSettings] | None = None,
    *,
    sleep: Callable[[float], None] | None = None,
    watchdog_every: float = 0.05,
    **settings: Any,
) -> Running:
    settings.setdefault("read_timeout", 1.0)
    sources = build_sources(sandbox_settings(base_url, **settings), brands or [DELTA])
    for source in sources:
        source.policy = FAST
    health: list[HealthEvent] = []
    supervisor = Supervisor(
        sources,
        sink=sink.sink,
        put_aside=sink.put_aside,
        get_cursor=sink.get_cursor,
        on_health=health.append,
        sleep=sleep,
        watchdog_every=watchdog_every,
    )
    thread = threading.Thread(target=supervisor.run, name="test-mastodon-supervisor", daemon=True)
    thread.start()
    return Running(supervisor, thread, health)


@pytest.fixture
def mastodon_server() -> Iterator[Callable[..., MastodonSandboxThread]]:
    """Start sandboxes (heartbeats every 0.2 s); all stopped at the end of the test."""
    started: list[MastodonSandboxThread] = []

    def make(**options: Any) -> MastodonSandboxThread:
        options.setdefault("keepalive", 0.2)
        options.setdefault("account", "Delta")
        server = MastodonSandboxThread(**options)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def supervise(store_sink: StoreSink) -> Iterator[Callable[..., Running]]:
    """Start supervisors over the Mastodon sources (store_sink is the shared real SQLite store)."""
    running: list[Running] = []

    def start(base_url: str, brands: list[BrandSettings] | None = None, **options: Any) -> Running:
        handle = start_supervisor(base_url, store_sink, brands, **options)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        if handle.thread.is_alive():
            handle.stop()
