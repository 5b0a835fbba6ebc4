"""Shared fixtures: real databases (a SQLite file and a PostgreSQL server), no mocks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pg_kit import OwnDatabase, own_database
from sqlalchemy import text

from store import Store

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end.

    CI always has the server; it is a failure, not a skip, if it cannot be reached.
    """
    with own_database(migrate=True) as database:
        yield database.url


def _truncate_all(store: Store) -> None:
    from sqlmodel import SQLModel

    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'earful.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path) -> Iterator[Store]:
    """The same test against both back ends."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'earful.db'}")
        store.migrate()
    else:
        store = Store(request.getfixturevalue("pg_database"))
        _truncate_all(store)
    yield store
    store.dispose()


@pytest.fixture
def make_mention():
    """Build a scored mention the way a collector and the classifier would."""
    from datetime import UTC, datetime, timedelta

    from store.incoming import Author, NewMention, ScoredMention, Scores

    base = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

    def build(
        native_id: str,
        *,
        text: str = "@acme my order never arrived",
        conversation: str = "c1",
        author: str = "u1",
        handle: str = "",
        own: bool = False,
        minutes: float = 0,
        urgency: int = 40,
        tier: str = "normal",
        followers: int = 10,
        network: str = "x",
        source: str | None = None,
        sentiment: str = "negative",
        complaint: float = 0.9,
    ) -> ScoredMention:
        return ScoredMention(
            mention=NewMention(
                network=network,
                native_id=native_id,
                conversation_id=conversation,
                text=text,
                created_at=base + timedelta(minutes=minutes),
                author=Author(native_user_id=author, handle=handle or author, followers=followers),
                brand="acme",
                is_own=own,
                source=source,
                cursor=native_id if source else None,
            ),
            scores=Scores(
                urgency=urgency,
                urgency_tier=tier,
                sentiment=sentiment,
                sentiment_probs={sentiment: 1.0},
                complaint=complaint,
            ),
        )

    return build


@pytest.fixture
def receiver():
    """A webhook endpoint on 127.0.0.1 recording each alert (tests/alert_kit.py)."""
    from alert_kit import Receiver

    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def own_pg() -> Iterator[OwnDatabase]:
    """A PostgreSQL database of this test's own, empty, with `down()`/`up()`/`drop()` to take it away."""
    with own_database() as database:
        yield database
