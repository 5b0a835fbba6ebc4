"""Helpers for the Bluesky tests: the sandbox in a thread, the real Supervisor running the real sources, a real
SQLite store (x_testkit's StoreSink), and an oracle for which sandbox posts a brand must end up with."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import pytest
from x_testkit import StoreSink

from listener.bluesky import BACKOFF, build_sources
from listener.config import BrandSettings
from listener.health import HealthEvent
from listener.sandbox.bluesky import BlueskySandboxThread, sandbox_settings
from listener.sandbox.bluesky_wire import SkyPost, did_for
from listener.source import Source
from listener.supervisor import Supervisor

# Every wait of the Bluesky policy a thousand times shorter: reconnects in milliseconds, same shape.
FAST = BACKOFF.scaled(0.001)
BRAND_HANDLES = [
    "americanair.bsky.social",
    "delta.bsky.social",
    "tmobilehelp.bsky.social",
    "applesupport.bsky.social",
]
DESK = BrandSettings(name="desk", accounts={"bluesky": BRAND_HANDLES})


class _Startable(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=_Startable)


def sandbox_threads(make: Callable[..., S], **defaults: Any) -> Iterator[Callable[..., S]]:
    """A fixture's body: a factory that starts sandbox threads (`defaults` fill the options a test leaves out),
    every one of them stopped at teardown."""
    started: list[S] = []

    def start(**options: Any) -> S:
        server = make(**{**defaults, **options})
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def about(post: SkyPost, handles: list[str]) -> bool:
    """What the desk must hear, written independently of the collector: by, to, in a thread of, or naming one of
    the brand's accounts."""
    wanted = {h.casefold() for h in handles}
    if post.author.handle in wanted or (post.parent_author and post.parent_author.handle in wanted):
        return True
    if post.root is not None and post.root.uri.split("/")[2] in {did_for(h) for h in wanted}:
        return True
    return any(re.search(rf"(?<![\w@])@{re.escape(h)}(?!\w)", post.text, re.I) for h in wanted)


class Running:
    def __init__(self, supervisor: Supervisor, thread: threading.Thread, health: list[HealthEvent]) -> None:
        self.supervisor = supervisor
        self.thread = thread
        self.health = health

    @property
    def sources(self) -> list[Source]:
        return [runner.src for runner in self.supervisor.runners]

    def states(self, source: str) -> list[str]:
        return [str(event.state) for event in list(self.health) if event.source == source]

    def details(self, source: str) -> list[str]:
        return [event.detail for event in list(self.health) if event.source == source]

    def runner(self, source: str) -> Any:
        return next(runner for runner in self.supervisor.runners if runner.source == source)

    def stop(self) -> None:
        self.supervisor.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the supervisor did not stop"


@pytest.fixture
def bluesky_server() -> Iterator[Callable[..., BlueskySandboxThread]]:
    yield from sandbox_threads(
        BlueskySandboxThread, keepalive=0.2, brands=[h.split(".")[0] for h in BRAND_HANDLES]
    )


@pytest.fixture
def run_bluesky(store_sink: StoreSink) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(server: BlueskySandboxThread, brands: list[BrandSettings], **settings: Any) -> Running:
        settings.setdefault("read_timeout", 1.0)
        settings.setdefault("rewind_seconds", 1.0)
        settings.setdefault("poll_seconds", 0.3)
        settings.setdefault("standby_seconds", 3600.0)
        config = sandbox_settings(server.base_url, server.jetstream_url, **settings)
        health: list[HealthEvent] = []
        supervisor = Supervisor(
            build_sources(config, brands, policy=FAST),
            sink=store_sink.sink,
            put_aside=store_sink.put_aside,
            get_cursor=store_sink.get_cursor,
            on_health=health.append,
            watchdog_every=0.05,
        )
        thread = threading.Thread(target=supervisor.run, name="test-bluesky-supervisor", daemon=True)
        thread.start()
        handle = Running(supervisor, thread, health)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        if handle.thread.is_alive():
            handle.stop()
