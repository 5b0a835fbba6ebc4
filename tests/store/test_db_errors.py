"""What each database error means, from real errors of real servers: only an outage, a full disk or a lock is
waited out, a deadlock is retried, an error about one row puts that row aside; each says so in its own words."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from store import Store
from store.engine import describe_unavailable

# Words that send a person to check a server that is running fine.
OUTAGE_WORDS = ("cannot open the database", "check that the server is running")


def raised(store: Store, sql: str, **params) -> Exception:
    try:
        with store.engine.begin() as conn:
            conn.execute(text(sql), params)
    except Exception as exc:
        return exc
    raise AssertionError(f"{sql} did not fail")


def deadlock(store: Store) -> Exception:
    """Two transactions taking two rows' locks in opposite orders; PostgreSQL kills one."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sourcecursor VALUES ('lock:1', '0', now()), ('lock:2', '0', now()) "
                "ON CONFLICT DO NOTHING"
            )
        )
    both = threading.Barrier(2)
    errors: list[Exception] = []

    def take(first: int, second: int) -> None:
        try:
            with store.engine.begin() as conn:
                for n in (first, second):
                    conn.execute(
                        text("UPDATE sourcecursor SET value = value || '1' WHERE source = :s"),
                        {"s": f"lock:{n}"},
                    )
                    if n == first:
                        both.wait(10)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM sourcecursor WHERE source LIKE 'lock:%'"))
    assert len(errors) == 1
    return errors[0]


def sqlite_full(tmp_path) -> Exception:
    store = Store(f"sqlite:///{tmp_path / 'full.db'}")
    store.migrate()

    @event.listens_for(store.engine, "connect")
    def _small(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA max_page_count = 1")  # no room for one more page: SQLITE_FULL

    store.engine.dispose()
    return raised(store, "INSERT INTO quarantine (network, source, reason, raw, received_at) "
                  "VALUES ('x', 's', :r, x'00', '2026-11-16')", r="r" * 100_000)  # fmt: skip


def sqlite_locked(tmp_path) -> Exception:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    Store(url).migrate()
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        engine = create_engine(url, connect_args={"timeout": 0.1})
        with pytest.raises(OperationalError) as err, engine.begin() as conn:
            conn.execute(text("DELETE FROM quarantine"))
        return err.value
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_deadlock_and_a_full_disk_do_not_send_anyone_to_check_the_server(pg_database, tmp_path):
    store = Store(pg_database)
    try:
        message = describe_unavailable(store.url, deadlock(store))
    finally:
        store.dispose()
    assert not any(words in message for words in OUTAGE_WORDS), message
    assert "retries" in message

    full = describe_unavailable(f"sqlite:///{tmp_path / 'full.db'}", sqlite_full(tmp_path))
    assert "out of space" in full and "free space" in full and "cannot open" not in full
    locked = describe_unavailable(f"sqlite:///{tmp_path / 'locked.db'}", sqlite_locked(tmp_path))
    assert "locked by another writer" in locked and "cannot open" not in locked


def test_only_an_unreachable_server_is_called_one():
    from store.errors import Fault, classify

    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(OperationalError) as err, store.engine.connect():
            pass
    finally:
        store.dispose()
    assert classify(err.value) is Fault.OUTAGE
    message = describe_unavailable(store.url, err.value)
    assert all(words in message for words in OUTAGE_WORDS)


def test_errors_about_one_row_put_the_row_aside_on_postgresql(pg_database):
    from store.errors import Fault, classify

    # An 850 KB post whose words make a tsvector over PostgreSQL's 1 MB: ProgramLimitExceeded, which the
    # driver files under OperationalError, the class an outage also has.
    post = " ".join(f"w{i}" for i in range(120_000))
    store = Store(pg_database)
    try:
        too_big = raised(store, "SELECT to_tsvector('simple', :t)", t=post)
        assert isinstance(too_big, OperationalError)
        too_long = raised(
            store,
            "INSERT INTO sourcecursor (source, value, updated_at) VALUES (:s, 'v', now())",
            s="s" * 300,
        )
        out_of_range = raised(store, "SELECT CAST(:n AS integer)", n=str(10**12))
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO sourcecursor VALUES ('twice', 'v', now())"))
        duplicate = raised(store, "INSERT INTO sourcecursor VALUES ('twice', 'v', now())")
        conflict = deadlock(store)
    finally:
        store.dispose()
    for exc in (too_big, too_long, out_of_range, duplicate):
        assert classify(exc) is Fault.ROW, exc
    assert classify(conflict) is Fault.CONFLICT


def test_sqlite_errors_are_read_the_same_way(tmp_path):
    from store.errors import Fault, classify

    assert classify(sqlite_full(tmp_path)) is Fault.DISK_FULL
    assert classify(sqlite_locked(tmp_path)) is Fault.LOCKED
    store = Store(f"sqlite:///{tmp_path / 'rows.db'}")
    store.migrate()
    # A Python int past 8 bytes: the driver cannot even bind it (a plain OverflowError, no database error).
    overflow = raised(store, "SELECT :n", n=10**20)
    unreadable = Store(f"sqlite:///{tmp_path / 'gone' / 'x.db'}")
    (tmp_path / "gone").rmdir()  # the directory went away (an unmounted volume, a cleaned-up folder)
    cannot_open = raised(unreadable, "SELECT 1")
    store.dispose()
    assert classify(overflow) is Fault.ROW
    assert classify(cannot_open) is Fault.OUTAGE
