"""The engine, the session factory and the schema migrations.

`Store` is the one handle the rest of earful holds. `store.read()` and `store.write()` each give a session for one
unit of work; repositories take that session and never commit themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"


# Made by migration 0004 outside the models: full-text search (an FTS5 table with its shadow tables on SQLite, a
# GIN expression index on PostgreSQL). Schema comparisons leave them out.
FTS_NAMES = ("mention_fts", "ix_mention_text_fts")


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    return not (name and type_ in ("table", "index") and name.startswith(FTS_NAMES))


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or opened; the message names the cause and the fix."""


def default_url() -> str:
    path = Path(user_data_dir("earful", appauthor=False)) / "earful.db"
    return f"sqlite:///{path}"


def _sqlite_setup(engine: Engine) -> None:
    # pysqlite opens transactions lazily and wrongly for SAVEPOINT; take over BEGIN ourselves (the SQLAlchemy
    # documented recipe), so savepoints work and writers can ask for BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that upgrades to a writer later can fail
        # with "database is locked" at once, without waiting for busy_timeout.
        immediate = conn.get_execution_options().get("earful_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    def __init__(self, url: str | None = None, *, echo: bool = False) -> None:
        self.url = url or default_url()
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # The desk and the pipeline share one file from several threads; each session is used by one only.
            connect_args["check_same_thread"] = False
        else:
            connect_args["connect_timeout"] = 5
        self.engine = create_engine(self.url, echo=echo, connect_args=connect_args, pool_pre_ping=True)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self._write_engine = self.engine.execution_options(earful_write=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with Session(self._write_engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creating it on a new database)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise StoreUnavailable(describe_unavailable(self.url, exc)) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def describe_unavailable(url: str, exc: BaseException) -> str:
    shown = make_url(url).render_as_string(hide_password=True)
    cause = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    if shown.startswith("sqlite"):
        fix = "check that the directory exists, is writable and the disk is not full, or set EARFUL_DATABASE__URL"
    else:
        fix = "check that the server is running and the URL is right (EARFUL_DATABASE__URL or [database] url)"
    return f"cannot open the database {shown}: {cause}. Fix: {fix}."
