"""Helpers shared by the listener tests (imported by module name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlmodel import col, select

from listener.config import XSettings
from listener.health import HealthEvent
from listener.source import BackoffPolicy, Source
from listener.supervisor import Runner, Supervisor
from listener.x import XCollector
from store import Store
from store.incoming import NewMention, ScoredMention
from store.mentions import get_cursor, save_mentions
from store.models import Mention, Quarantine
from store.quarantine import put_aside

# Every wait of tweepy's policy, a hundred times shorter: reconnects in milliseconds, same shape.
FAST = BackoffPolicy().scaled(0.01)
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
        # Sources deliver from their own threads; the pipeline writes on one thread, and so does this.
        self._lock = threading.Lock()

    def sink(self, mention: NewMention) -> None:
        with self._lock:
            self.handed.append(mention)
            with self.store.write() as session:
                result = save_mentions([ScoredMention(mention=mention)], session=session, isolate=True)
                # As the pipeline does: what the database refuses is kept aside, with why.
                for item, reason in result.rejected:
                    raw = item.mention.model_dump_json().encode()
                    put_aside(
                        item.mention.network, item.mention.source or "pipeline", reason, raw, session=session
                    )

    def put_aside(self, network: str, source: str, reason: str, raw: bytes) -> None:
        with self._lock, self.store.write() as session:
            put_aside(network, source, reason, raw, session=session)

    def get_cursor(self, source: str) -> str | None:
        with self.store.read() as session:
            return get_cursor(source, session=session)

    def native_ids(self, *, context: bool = False) -> list[str]:
        """What is stored, once per row. Without `context`, the thread context the collectors fetched above
        their mentions is left out (what was handed over as context only, never as a mention): the tests of
        collection compare with what the brand's terms match, and tests/listener/test_thread_context_*.py
        check the context."""
        return [mention.native_id for mention in self.mentions(context=context)]

    def mentions(self, *, context: bool = False) -> list[Mention]:
        with self.store.read() as session:
            stored = list(session.exec(select(Mention).order_by(col(Mention.id))))
        if context:
            return stored
        with self._lock:
            handed = list(self.handed)
        matched = {m.native_id for m in handed if not getattr(m, "context", False)}
        only_context = {m.native_id for m in handed if getattr(m, "context", False)} - matched
        return [mention for mention in stored if mention.native_id not in only_context]

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
        # The stream's tests watch the stream alone; the mentions poller has tests of its own.
        "mentions": False,
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


# X's policy a thousand times shorter: a 60 s rate-limit wait takes 60 ms.
FASTER = BackoffPolicy().scaled(0.001)


class Supervised:
    """A Supervisor running in a thread, its health events, and a clean stop."""

    def __init__(self, supervisor: Supervisor, health: list[HealthEvent]) -> None:
        self.supervisor = supervisor
        self.health = health
        self.thread = threading.Thread(target=supervisor.run, name="test-x-supervisor", daemon=True)

    def runner(self, name: str) -> Runner:
        return next(r for r in self.supervisor.runners if r.source == name)

    def events(self, name: str) -> list[HealthEvent]:
        return [event for event in list(self.health) if event.source == name]

    def states(self, name: str) -> list[str]:
        return [str(event.state) for event in self.events(name)]

    def stop(self) -> None:
        self.supervisor.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the supervisor did not stop"


@contextmanager
def supervise(
    sources: Sequence[Source], sink: StoreSink, *, watchdog_every: float = 0.02, **options: Any
) -> Iterator[Supervised]:
    health: list[HealthEvent] = []
    supervisor = Supervisor(
        sources,
        sink=sink.sink,
        put_aside=sink.put_aside,
        get_cursor=sink.get_cursor,
        on_health=health.append,
        watchdog_every=watchdog_every,
        **options,
    )
    running = Supervised(supervisor, health)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop()
