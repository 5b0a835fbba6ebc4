"""SQL expressions the report needs that SQLite and PostgreSQL spell differently.

The report aggregates a million mentions in the database, so days, durations and timestamps are computed there,
not by loading rows into Python. SQLite stores UTC timestamps as text ('2026-11-16 10:00:00.000000');
PostgreSQL as timestamptz.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    String,
    bindparam,
    case,
    cast,
    extract,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, TextClause, UnaryExpression
from sqlmodel import Session, col

from responders.report_period import Period
from store.clock import as_utc
from store.models import Mention

# Rows fetched per round trip (a server-side cursor on PostgreSQL): memory stays flat whatever the week holds.
BATCH = 5000
# How much of a SQLite file a report maps into memory (the whole file, for any week that needs it).
MMAP_BYTES = 4 << 30
# From this share of the mention table, a report reads the whole table rather than walk the created_at index.
WIDE_SHARE = 0.25
# Unix time of SQLite's Julian day number zero point, so julianday() becomes seconds since 1970.
_UNIX_EPOCH_JULIAN = 2440587.5
# What csv_safe() prefixes with an apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def stream_rows(session: Session, statement: Any) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The rows of `statement` in batches of plain DB-API tuples, on a server-side cursor on PostgreSQL.

    A SQLAlchemy Row per row costs about a second per million; the exports go through the driver's own cursor
    instead (the statement's only parameters are our own timestamps, rendered as literals).
    """
    connection = session.connection()
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    raw: Any = connection.connection.driver_connection
    cursor = raw.cursor(name="earful_report") if connection.dialect.name == "postgresql" else raw.cursor()
    try:
        # An empty parameter tuple makes psycopg read the compiler's %% as the % it stands for.
        cursor.execute(sql, ())
        while rows := cursor.fetchmany(BATCH):
            yield rows
    finally:
        cursor.close()


@contextmanager
def mapped_reads(session: Session) -> Iterator[Session]:
    """On SQLite, read the file through a memory map for the block (a third less time in the kernel on a
    million-row scan), then put the connection's setting back: it returns to a pool other work shares."""
    if dialect_of(session) != "sqlite":
        yield session
        return
    raw: Any = session.connection().connection.driver_connection
    before = raw.execute("PRAGMA mmap_size").fetchone()[0]
    raw.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    try:
        yield session
    finally:
        raw.execute(f"PRAGMA mmap_size={int(before)}")


def wide_range(session: Session, start: datetime, end: datetime) -> bool:
    """Whether [start, end) holds so much of the mention table that reading all of it beats its created_at index.

    Through the index SQLite reads one row at a time wherever it lies, which for a busy week of a young database
    is five times slower than reading the whole file in order; without statistics it always takes the index.
    PostgreSQL keeps statistics and chooses well by itself. Two cheap counts, remembered for the session.
    """
    if dialect_of(session) != "sqlite":
        return False
    key = ("earful_report_wide", start, end)
    if key not in session.info:
        table = session.execute(select(func.max(col(Mention.id)))).scalar() or 0
        inside = session.execute(
            select(func.count()).select_from(Mention).where(*in_span(Mention.created_at, start, end))
        ).scalar_one()
        session.info[key] = inside > WIDE_SHARE * table
    return bool(session.info[key])


def mentions_between(session: Session, start: datetime, end: datetime) -> tuple[Any, Any]:
    """WHERE terms for mentions created in [start, end), read in the cheaper way (see wide_range)."""
    return created_between(start, end, scan=wide_range(session, start, end))


def created_between(start: datetime, end: datetime, *, scan: bool) -> tuple[Any, Any]:
    """WHERE terms for mentions created in [start, end); `scan` keeps SQLite off the created_at index."""
    created: Any = col(Mention.created_at)
    if scan:
        # SQLite's documented way to keep a term off an index: a unary + in front of the column.
        created = UnaryExpression(created, operator=operators.custom_op("+"), type_=created.type)
    return (created >= start, created < end)


def in_span(column: Any, start: datetime, end: datetime) -> tuple[Any, Any]:
    """[start, end) on a timestamp column, as two WHERE terms."""
    return (col(column) >= start, col(column) < end)


def is_current(column: Any, period: Period) -> Any:
    """1 for a timestamp in the period, 0 before it: one scan of both periods tells them apart."""
    return case((col(column) >= period.start, 1), else_=0)


def day_text(column: Any, dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp as 'YYYY-MM-DD'."""
    if dialect == "sqlite":
        return func.substr(column, 1, 10, type_=String)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)


def epoch(column: Any, dialect: str) -> ColumnElement[float]:
    """Seconds since 1970 (a float), so differences are durations in seconds on either database."""
    if dialect == "sqlite":
        return cast((func.julianday(column) - _UNIX_EPOCH_JULIAN) * 86400.0, Float)
    return cast(extract("epoch", column), Float)


def iso_text(column: Any, dialect: str) -> ColumnElement[str]:
    """A timestamp as ISO 8601 UTC text to the second ('2026-11-16T10:00:00+00:00'), with no Python parsing."""
    if dialect == "sqlite":
        # Cut from the stored text: strftime() parses every value, a third of the cost of a million-row export.
        day, clock = func.substr(column, 1, 10, type_=String), func.substr(column, 12, 8, type_=String)
        return case((column.is_(None), None), else_=day + "T" + clock + "+00:00")
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"', type_=String)


def csv_text(column: Any) -> ColumnElement[str]:
    """The column as a CSV cell a spreadsheet shows, never runs: responders.safe.csv_safe, in SQL ('' for NULL)."""
    first = func.substr(column, 1, 1, type_=String)
    return case((first.in_(FORMULA_STARTS), literal("'", String) + column), else_=func.coalesce(column, ""))


def csv_line(cells: Sequence[Any], texts: Sequence[int]) -> ColumnElement[str]:
    """One CSV line (without its line end) put together in the database from `cells`: those at the positions
    `texts` are free text, made formula-safe (csv_text) and always quoted, their quotes doubled; the others are
    our own numbers and labels, written as they are (NULL as an empty cell).

    A million rows then reach Python as a million strings rather than thirteen million cells: a tenth to a
    quarter less processor time per export (`python -m bench report`). The file reads as the csv module writes
    it, but for quotes around every text cell.
    """
    quote = literal('"', String)
    parts: list[Any] = []
    for i, cell in enumerate(cells):
        if i:
            parts.append(literal(",", String))
        if i in texts:
            parts += [quote, func.replace(csv_text(cell), '"', '""', type_=String), quote]
        else:
            parts.append(func.coalesce(cast(cell, String), ""))
    line = parts[0]
    for part in parts[1:]:
        line = line.concat(part)
    return line


def fixed3(column: Any, dialect: str) -> ColumnElement[str]:
    """A score with three decimals ('0.900'); NULL stays NULL (an empty cell)."""
    if dialect == "sqlite":
        return case((column.is_(None), None), else_=func.printf("%.3f", column, type_=String))
    return func.to_char(column, "FM0.000", type_=String)


def joined_list(column: str, dialect: str) -> ColumnElement[str]:
    """A mention's JSON list of text (explanation, risks) as one cell, its items joined by "; "; NULL if empty."""
    # Most lists of risks are empty: those skip the per-row table function, a third of the column's cost.
    if dialect == "sqlite":
        joined = f"(SELECT group_concat(value, '; ') FROM json_each(mention.{column}))"
        sql = f"CASE WHEN mention.{column} IS NULL OR mention.{column} = '[]' THEN NULL ELSE {joined} END"
    else:
        joined = f"(SELECT string_agg(value, '; ') FROM json_array_elements_text(mention.{column}::json))"
        sql = (
            f"CASE WHEN mention.{column} IS NULL OR mention.{column}::text = '[]' THEN NULL ELSE {joined} END"
        )
    return literal_column(sql, String)


def bool_text(column: Any) -> ColumnElement[str]:
    return case((column, "true"), else_="false")


def entity_counts(
    dialect: str, *, limit: int, skip_labels: tuple[str, ...], scan: bool = False
) -> TextClause:
    """Entities of customer mentions in [:prev_start, :end), counted in the period (from :start) and before it.

    Grouped case-insensitively; `shown` is one spelling of it (min() prefers the capitalised one). Only rows whose
    entities start like a list of objects are expanded: a text prefix test is far cheaper than parsing the JSON
    of every mention, most of which has none.
    """
    skipped = ", ".join(f"'{label}'" for label in skip_labels) or "''"
    if dialect == "sqlite":
        source = f"mention AS m{' NOT INDEXED' if scan else ''}, json_each(m.entities) AS e"
        label, value = "json_extract(e.value, '$.label')", "json_extract(e.value, '$.text')"
        listed, own = "m.entities LIKE '[{%'", "m.is_own = 0"
    else:
        source = "mention AS m CROSS JOIN LATERAL json_array_elements(m.entities) AS e(value)"
        label, value = "(e.value ->> 'label')", "(e.value ->> 'text')"
        listed, own = "CAST(m.entities AS TEXT) LIKE '[{%'", "m.is_own = false"
    sql = f"""
        SELECT {label} AS label, lower({value}) AS entity, min({value}) AS shown,
               sum(CASE WHEN m.created_at >= :start THEN 1 ELSE 0 END) AS current,
               sum(CASE WHEN m.created_at < :start THEN 1 ELSE 0 END) AS previous
        FROM {source}
        WHERE m.created_at >= :prev_start AND m.created_at < :end AND {own} AND {listed}
              AND {value} IS NOT NULL AND {value} != '' AND coalesce({label}, '') NOT IN ({skipped})
        GROUP BY {label}, lower({value})
        HAVING sum(CASE WHEN m.created_at >= :start THEN 1 ELSE 0 END) > 0
        ORDER BY current DESC, entity
        LIMIT {int(limit)}
    """
    moment = Mention.__table__.c.created_at.type  # type: ignore[attr-defined]
    return text(sql).bindparams(
        bindparam("start", type_=moment),
        bindparam("prev_start", type_=moment),
        bindparam("end", type_=moment),
    )


def window(start: datetime, prev_start: datetime, end: datetime) -> dict[str, datetime]:
    return {"start": start, "prev_start": prev_start, "end": end}


def stored_span(session: Session) -> tuple[datetime, datetime] | None:
    """When the store's first and last mentions were posted (both ends of the created_at index), or None."""
    first, last = session.execute(select(func.min(Mention.created_at), func.max(Mention.created_at))).one()
    if first is None or last is None:
        return None
    return as_utc(first), as_utc(last)
