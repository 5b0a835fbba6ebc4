"""Helpers shared by the listener tests (imported by module name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from listener.config import XSettings
from listener.health import HealthEvent
from listener.x import XCollector
from listener.x_stream import Backoff
from store import Store
from store.incoming import NewMention, ScoredMention
from store.mentions import get_cursor, save_mentions
from store.models import Mention, Quarantine
from store.quarantine import put_aside

# Every wait of tweepy's policy, a hundred times shorter: reconnects in milliseconds, same shape.
FAST = Backoff().scaled(0.01)
BEARER = "sandbox-bearer-token"


def wait_for(condition: Callable[[], Any], *, timeout: float = 8.0, what: str = "condition") -> Any:
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


class StoreSink:
    """The collector's three callables, writing straight to the store the way the pipeline does."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.handed: list[NewMention] = []

    def sink(self, mention: NewMention) -> None:
        self.handed.append(mention)
        with self.store.write() as session:
            save_mentions([ScoredMention(mention=mention)], session=session)

    def put_aside(self, network: str, source: str, reason: str, raw: bytes) -> None:
        with self.store.write() as session:
            put_aside(network, source, reason, raw, session=session)

    def get_cursor(self, source: str) -> str | None:
        with self.store.read() as session:
            return get_cursor(source, session=session)

    def native_ids(self) -> list[str]:
        with self.store.read() as session:
            return list(session.exec(select(Mention.native_id)))

    def mentions(self) -> list[Mention]:
        with self.store.read() as session:
            return list(session.exec(select(Mention).order_by(col(Mention.id))))

    def quarantined(self) -> list[Quarantine]:
        with self.store.read() as session:
            return list(session.exec(select(Quarantine).order_by(col(Quarantine.id))))


def x_settings(base_url: str, **overrides: Any) -> XSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "bearer_token": BEARER,
        "consumer_key": "ck",
        "consumer_secret": "cs",
        "access_token": "at",
        "access_token_secret": "ats",
        "read_timeout": 2.0,
    }
    values.update(overrides)
    return XSettings(**values)


class RunningCollector:
    def __init__(self, collector: XCollector, thread: threading.Thread, health: list[HealthEvent]) -> None:
        self.collector = collector
        self.thread = thread
        self.health = health

    def states(self) -> list[str]:
        return [str(event.state) for event in self.health]
