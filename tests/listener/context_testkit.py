"""Helpers for the thread-context tests: a supervisor over real sources with the store's `known` lookup, and
what a thread looks like in the store (its messages in the order the desk shows them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from x_testkit import StoreSink, wait_for

from listener.health import HealthEvent
from listener.source import Source
from listener.supervisor import Supervisor
from store.mentions import known_mentions
from store.models import Mention, SourceCursor, Thread

__all__ = ["Desk", "StoreSink", "messages", "stored_threads", "wait_for"]


def known(sink: StoreSink) -> Callable[[str, Sequence[str]], set[str]]:
    """The pipeline's lookup (earful.sources): which of these ids the store has."""

    def lookup(network: str, ids: Sequence[str]) -> set[str]:
        with sink.store.read() as session:
            return {found for _, found in known_mentions([(network, i) for i in ids], session=session)}

    return lookup


class Desk:
    """The real Supervisor running `sources` on its own thread into `sink`, with every health event."""

    def __init__(self, sources: list[Source], sink: StoreSink, **options: Any) -> None:
        self.health: list[HealthEvent] = []
        self.supervisor = Supervisor(
            sources,
            sink=sink.sink,
            put_aside=sink.put_aside,
            get_cursor=sink.get_cursor,
            on_health=self.health.append,
            watchdog_every=0.05,
            known=known(sink),
            **options,
        )
        self.thread = threading.Thread(target=self.supervisor.run, name="test-context-desk", daemon=True)
        self.thread.start()

    def states(self, source: str) -> list[str]:
        return [str(event.state) for event in list(self.health) if event.source == source]

    def notes(self, *words: str) -> list[HealthEvent]:
        """Health events whose thread-context note says all of `words`."""
        return [
            event
            for event in list(self.health)
            if "thread context:" in event.detail
            and all(word in event.detail.split("thread context:", 1)[1] for word in words)
        ]

    def stop(self) -> None:
        self.supervisor.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the supervisor did not stop"


@dataclass(frozen=True)
class Message:
    native_id: str
    is_own: bool
    text: str


def messages(sink: StoreSink, conversation_id: str) -> list[Message]:
    """A thread's messages as the desk orders them (store.queries: by created_at, then id)."""
    with sink.store.read() as session:
        thread = session.exec(select(Thread).where(Thread.conversation_id == conversation_id)).one()
        rows = session.exec(
            select(Mention)
            .where(Mention.thread_id == thread.id)
            .order_by(col(Mention.created_at), col(Mention.id))
        )
        return [Message(m.native_id, m.is_own, m.text) for m in rows]


def stored_threads(sink: StoreSink) -> list[Thread]:
    with sink.store.read() as session:
        return list(session.exec(select(Thread).order_by(col(Thread.id))))


def thread_of(sink: StoreSink, conversation_id: str) -> Thread:
    with sink.store.read() as session:
        return session.exec(select(Thread).where(Thread.conversation_id == conversation_id)).one()


def cursors(sink: StoreSink) -> dict[str, str]:
    with sink.store.read() as session:
        return {row.source: row.value for row in session.exec(select(SourceCursor))}


def assert_cursor_rule(sink: StoreSink, context_ids: set[str]) -> None:
    """Context was handed over without a cursor, and no stored cursor stands at a context post."""
    handed = [m for m in sink.handed if getattr(m, "context", False)]
    assert {m.native_id for m in handed} >= context_ids
    assert all(m.cursor is None and m.source is None for m in handed)
    assert not set(cursors(sink).values()) & context_ids


def later() -> None:
    """Let the clock move on a few milliseconds: a reply is never posted in its parent's millisecond on a real
    network, and the desk orders a thread by time (a tie would fall back to the order of storing)."""
    time.sleep(0.005)


def stored_once(sink: StoreSink) -> None:
    ids = sink.native_ids(context=True)
    assert len(ids) == len(set(ids)), "a post was stored twice"


def wait_stored(sink: StoreSink, ids: Sequence[str], *, timeout: float = 10.0) -> None:
    wait_for(
        lambda: set(ids) <= set(sink.native_ids(context=True)), timeout=timeout, what=f"{list(ids)} stored"
    )
