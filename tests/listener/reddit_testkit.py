"""Helpers for the Reddit tests: the sandbox in a thread, the supervisor running the real sources (real praw,
a real socket) into a real SQLite store, and what a complete collector must have stored."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from x_testkit import StoreSink

from listener.config import BrandSettings, RedditSettings
from listener.health import HealthEvent
from listener.reddit import REDDIT_POLICY, build_sources
from listener.sandbox.reddit import RedditSandboxThread, sandbox_settings
from listener.sandbox.reddit_wire import Thing
from listener.source import Source
from listener.supervisor import Supervisor

# Every wait of Reddit's policy a thousand times shorter: reconnects in milliseconds, same shape.
FAST = REDDIT_POLICY.scaled(0.001)
HANDLES = ["AmericanAir", "Delta", "AppleSupport", "SouthwestAir", "TMobileHelp"]
DESK = BrandSettings(name="desk", accounts={"reddit": HANDLES})
# A budget praw never paces against: its limiter spreads calls once they outrun 1000 per 10 minutes.
BIG_BUDGET = 10_000_000


def start_sandbox(**options: Any) -> RedditSandboxThread:
    options.setdefault("replay", False)
    options.setdefault("budget", BIG_BUDGET)
    server = RedditSandboxThread(**options)
    server.start()
    return server


def fast_settings(base_url: str, **overrides: Any) -> RedditSettings:
    values: dict[str, Any] = {"poll_seconds": 0.05, "read_timeout": 5.0, "stall_after": 1.0}
    values.update(overrides)
    return sandbox_settings(base_url, **values)


def about_desk(thing: Thing, handles: Iterable[str] = HANDLES) -> bool:
    """Written by one of the brand's accounts, or naming one as u/name (what a Reddit user writes)."""
    for handle in handles:
        if thing.author.username.casefold() == handle.casefold():
            return True
        if re.search(rf"(?<![\w/])/?u/{re.escape(handle)}(?!\w)", thing.text, re.IGNORECASE):
            return True
    return False


class Desk:
    """A supervisor running sources on its own thread, with every health event it reported."""

    def __init__(self, sources: list[Source], sink: StoreSink) -> None:
        self.health: list[HealthEvent] = []
        self.supervisor = Supervisor(
            sources,
            sink=sink.sink,
            put_aside=sink.put_aside,
            get_cursor=sink.get_cursor,
            on_health=self.health.append,
            watchdog_every=0.05,
        )
        self.thread = threading.Thread(target=self.supervisor.run, name="test-reddit-desk", daemon=True)

    @classmethod
    def start(
        cls, settings: RedditSettings, brands: list[BrandSettings], sink: StoreSink, **options: Any
    ) -> Desk:
        desk = cls(build_sources(settings, brands, policy=options.pop("policy", FAST)), sink)
        desk.thread.start()
        return desk

    def stop(self) -> None:
        self.supervisor.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the supervisor did not stop"

    def events(self, state: str, source: str | None = None) -> list[HealthEvent]:
        return [e for e in list(self.health) if e.state == state and (source is None or e.source == source)]

    def polling(self) -> bool:
        """Every source has caught up at least once."""
        caught = {e.source for e in self.events("polling")}
        return caught >= {runner.source for runner in self.supervisor.runners}
