"""The migrations build exactly the schema the models describe, on both back ends."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from pg_kit import own_database
from sqlalchemy import MetaData, Table, inspect, text
from sqlmodel import SQLModel, select

from store import Store
from store.engine import MIGRATIONS, include_name
from store.mentions import save_mentions
from store.models import Mention


def test_migrated_schema_matches_the_models(any_store):
    with any_store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_migrating_twice_is_harmless(sqlite_store):
    sqlite_store.migrate()
    with sqlite_store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None


def test_an_unreachable_database_names_the_cause_and_the_fix():
    from store import StoreUnavailable

    with pytest.raises(StoreUnavailable) as err:
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none").migrate()
    assert "cannot open the database" in str(err.value) and "Fix:" in str(err.value)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> Iterator[str]:
    """A database with no schema yet, on each back end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with own_database("earful_mig") as own:
        yield own.url


def _to_revision(store: Store, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _insert(conn, table: str, **values) -> int:
    """One row written with the schema as the database has it (not as the models describe it now)."""
    reflected = Table(table, MetaData(), autoload_with=conn)
    return conn.execute(reflected.insert().values(**values)).inserted_primary_key[0]


def _old_mention(conn, text_: str) -> None:
    """Customer, identity, thread and one mention, written with the columns of an older schema."""
    now = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    customer = _insert(
        conn, "customer", display_name="Jane", tier="standard", notes="", tags=[], created_at=now
    )
    identity = _insert(
        conn,
        "identity",
        customer_id=customer,
        network="x",
        native_user_id="jane",
        handle="jane",
        display_name="Jane",
        followers=3,
        is_own=False,
        updated_at=now,
    )
    thread = _insert(
        conn,
        "thread",
        network="x",
        conversation_id="c1",
        brand="acme",
        status="new",
        urgency=40,
        tier="normal",
        first_activity_at=now,
        last_activity_at=now,
        mention_count=1,
        updated_at=now,
    )
    _insert(
        conn,
        "mention",
        network="x",
        native_id="1",
        thread_id=thread,
        identity_id=identity,
        brand="acme",
        is_own=False,
        text=text_,
        created_at=now,
        received_at=now,
        stored_at=now,
        raw={},
        sentiment_probs={},
        urgency=40,
        urgency_tier="normal",
        entities=[],
    )


def test_0003_gives_mentions_stored_before_it_an_empty_explanation(empty_url, make_mention):
    store = Store(empty_url)
    try:
        _to_revision(store, "0002")
        with store.engine.begin() as conn:
            _old_mention(conn, "@acme where is my order")

        store.migrate()

        with store.read() as s:
            old = s.exec(select(Mention)).one()
        assert (old.text, old.explanation, old.risks) == ("@acme where is my order", [], [])
        new = make_mention("2", minutes=1)
        new.scores.explanation, new.scores.risks = ["never arrived", "[bold]lawyer[/]"], ["legal"]
        with store.write() as s:
            save_mentions([new], session=s)
        with store.read() as s:
            stored = s.exec(select(Mention).where(Mention.native_id == "2")).one()
        assert (stored.explanation, stored.risks) == (["never arrived", "[bold]lawyer[/]"], ["legal"])

        # And back: the columns go, the mentions stay.
        _to_revision(store, "0002", down=True)
        with store.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("mention")}
            assert conn.execute(text("SELECT count(*) FROM mention")).scalar_one() == 2
        assert {"explanation", "risks"}.isdisjoint(columns) and "entities" in columns
    finally:
        store.dispose()


def _search_ids(store: Store, term: str) -> set[int]:
    if store.is_sqlite:
        sql = "SELECT rowid FROM mention_fts WHERE mention_fts MATCH :q"
    else:
        sql = "SELECT id FROM mention WHERE to_tsvector('simple', text) @@ plainto_tsquery('simple', :q)"
    with store.engine.connect() as conn:
        return set(conn.execute(text(sql), {"q": term}).scalars())


def test_0004_indexes_old_and_new_mentions_for_search_and_downgrades_cleanly(empty_url, make_mention):
    store = Store(empty_url)
    try:
        _to_revision(store, "0003")
        with store.engine.begin() as conn:
            _old_mention(conn, "@acme my parcel never arrived")
        store.migrate()
        with store.write() as s:
            save_mentions([make_mention("2", minutes=1, text="@acme the parcel came damaged")], session=s)
        with store.read() as s:
            ids = {m.native_id: m.id for m in s.exec(select(Mention))}
        assert _search_ids(store, "parcel") == {ids["1"], ids["2"]}
        assert _search_ids(store, "damaged") == {ids["2"]}
        with store.write() as s:
            s.get(Mention, ids["2"]).text = "@acme all good now"
        assert _search_ids(store, "damaged") == set()

        _to_revision(store, "0003", down=True)
        with store.engine.connect() as conn:
            assert "mention_fts" not in inspect(conn).get_table_names()
            assert "snoozed_until" not in {c["name"] for c in inspect(conn).get_columns("thread")}
            assert conn.execute(text("SELECT count(*) FROM mention")).scalar_one() == 2
    finally:
        store.dispose()


def test_fifteen_processes_migrating_a_fresh_database_at_once_all_succeed(empty_url):
    import subprocess
    import sys
    import time
    from pathlib import Path

    # What fifteen `earful` commands starting together do first (serve, workers, desks): migrate.
    start_at = time.time() + 4
    code = (
        "import sys, time; from store import Store; store = Store(sys.argv[1]); "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); store.migrate()"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, empty_url, str(start_at)],
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(15)
    ]
    failures = []
    for process in processes:
        _, err = process.communicate(timeout=60)
        if process.returncode != 0:
            failures.append(err.strip().splitlines()[-1])
    assert failures == []
    store = Store(empty_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        store.dispose()
