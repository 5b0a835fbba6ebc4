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
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import Session

from store.errors import Fault, classify, describe
from store.private import private_dir, private_file
from store.urls import safe_url

MIGRATIONS = Path(__file__).parent / "migrations"


# Made by migration 0004 outside the models: full-text search (an FTS5 table with its shadow tables on SQLite, a
# GIN expression index on PostgreSQL). Schema comparisons leave them out.
FTS_NAMES = ("mention_fts", "ix_mention_text_fts")
# The advisory lock migrations hold on PostgreSQL: any 64-bit number no other application uses ("earful" in ASCII).
MIGRATION_LOCK = 0x6561727466756C


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    return not (name and type_ in ("table", "index") and name.startswith(FTS_NAMES))


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or opened; the message names the cause and the fix."""


def default_url() -> str:
    path = Path(user_data_dir("earful", appauthor=False)) / "earful.db"
    return f"sqlite:///{path}"


def _sqlite_setup(engine: Engine, path: Path | None = None) -> None:
    if path is not None:

        @event.listens_for(engine, "do_connect")
        def _owner_only(*_args: Any) -> None:
            # The file is made 0600 just before SQLite opens it (its -wal and -shm take the file's mode). If it
            # cannot be (its directory gone), SQLite's own error says so.
            if not path.exists():
                try:
                    private_file(path)
                except OSError:
                    pass

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


class NoStore(StoreUnavailable):
    """A command that only reads found no earful database where the URL points (a mistyped path, say); it
    creates none."""


URL_FORMS = "sqlite:///path/to/earful.db or postgresql+psycopg://user@host/dbname"


class Store:
    def __init__(self, url: str | None = None, *, echo: bool = False, create: bool = True) -> None:
        """`create=False` (the commands that only read): no directory, file or schema is made; a database that
        is not there is a NoStore error naming the URL."""
        self.url = url or default_url()
        parsed = parse_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.created = False
        connect_args: dict[str, Any] = {}
        file: Path | None = None
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                file = Path(database).expanduser()
                self.created = _sqlite_file(file, create=create)
            # The desk and the pipeline share one file from several threads; each session is used by one only.
            connect_args["check_same_thread"] = False
        else:
            connect_args["connect_timeout"] = 5
        try:
            self.engine = create_engine(self.url, echo=echo, connect_args=connect_args, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise StoreUnavailable(_bad_url(self.url, parsed.drivername, exc)) from None
        self.create = create
        if self.is_sqlite:
            _sqlite_setup(self.engine, file)
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
        """Bring the schema to the newest migration (creating it on a new database).

        Any number of processes may start at once: on PostgreSQL each takes an advisory lock first, so one
        migrates while the others wait and then find the schema current; on SQLite the migration is a write
        transaction from its first statement (BEGIN IMMEDIATE), which serialises them the same way.
        """
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        try:
            if not self.create and not self._has_schema():
                raise NoStore(
                    f"no earful database at {safe_url(self.url)} (nothing earful made is there; earful creates "
                    "none for a command that only reads). Fix: run `earful demo` or `earful serve` first, or "
                    "point EARFUL_DATABASE__URL (or [database] url) at the database"
                )
            if self._at_head(config):
                return  # the usual start: no lock to take, no writer to wait for
            with self._write_engine.begin() as connection:
                if not self.is_sqlite:
                    # Released with the transaction, so a process killed mid-migration frees it too.
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except DBAPIError as exc:
            if classify(exc) is Fault.ROW:
                raise
            raise StoreUnavailable(describe_unavailable(self.url, exc)) from exc

    def _at_head(self, config: Any) -> bool:
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(config).get_heads())
        with self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads

    def _has_schema(self) -> bool:
        from sqlalchemy import inspect

        with self.engine.connect() as connection:
            return inspect(connection).has_table("alembic_version")

    def dispose(self) -> None:
        self.engine.dispose()


def describe_unavailable(url: str, exc: BaseException) -> str:
    """The database error as one sentence with its cause and fix, the URL shown without credentials."""
    return describe(exc, url)


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreUnavailable(_bad_url(url, "", exc)) from None


def _bad_url(url: str, driver: str, exc: BaseException) -> str:
    shown = safe_url(url)
    if driver in ("postgres", "postgresql", "postgresql+psycopg2"):
        fixed = shown.replace(driver + "://", "postgresql+psycopg://", 1)
        why = f"earful reaches PostgreSQL through psycopg 3: write it {fixed}"
    elif driver:
        why = f"earful has no driver for {driver!r} ({str(exc).splitlines()[0][:120]}); use {URL_FORMS}"
    else:
        why = f"it is not a database URL; use {URL_FORMS}"
    return f"cannot use the database URL {shown}: {why}. Fix: set EARFUL_DATABASE__URL or [database] url"


def _sqlite_file(path: Path, *, create: bool) -> bool:
    """Whether the SQLite file is new; its directory is made (0700) now, the file (0600) on the first connection.
    With `create=False` a file that is not there is a NoStore error, and nothing is made."""
    if path.exists():
        return False
    if not create:
        raise NoStore(
            f"no database at {path}. Fix: run `earful demo` or `earful serve` first, or set "
            "EARFUL_DATABASE__URL (or [database] url) to the database's URL"
        )
    private_dir(path.parent)
    return True
