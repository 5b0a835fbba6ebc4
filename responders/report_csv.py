"""threads.csv and mentions.csv, streamed from the database (a busy week has a million mentions).

Every text cell is csv_safe (a spreadsheet shows it, never runs it as a formula) with its control characters
dropped; numbers we computed stay numbers. The database writes each line (the apostrophe, the quotes, timestamps)
and Python looks for control characters in each written batch at once, cleaning only the rare batch holding
one: a million rows then cost a million strings, not a Python function per cell. Both files are UTF-8 with a BOM,
because Excel reads a BOM-less CSV in the local code page and mangles accents and emoji; other tools skip it.

A big report writes them in processes of their own (responders.report_export), beside the one drawing the page.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from responders.report_model import ThreadRow, human_duration
from responders.report_period import Period
from responders.report_sql import (
    bool_text,
    created_between,
    csv_line,
    dialect_of,
    epoch,
    fixed3,
    in_span,
    iso_text,
    joined_list,
    mapped_reads,
    stream_rows,
    wide_range,
)
from responders.safe import csv_safe, one_line, strip_controls
from store.models import Customer, Identity, Mention, Thread
from store.private import write_private

URGENT_ROWS = 10

THREAD_COLUMNS = (
    "thread_id",
    "customer",
    "handle",
    "network",
    "brand",
    "first_message",
    "sentiment",
    "urgency",
    "urgency_tier",
    "first_response_seconds",
    "first_response",
    "status",
    "assignee",
    "mentions",
    "mentions_in_week",
    "first_activity",
    "last_activity",
)
# One column set for every CSV of mentions: the report's mentions.csv and `earful export mentions --format csv`.
MENTION_COLUMNS = (
    "mention_id",
    "network",
    "native_id",
    "thread_id",
    "conversation_id",
    "created_at",
    "author_handle",
    "brand",
    "language",
    "text",
    "sentiment",
    "complaint",
    "severity",
    "urgency",
    "urgency_tier",
    "explanation",
    "risks",
    "is_own",
)
# Positions of the free-text cells, cleaned in Python in the rare batch holding a control character.
_THREAD_TEXT = (1, 2, 4, 5, 12)
# The explanation is the mention's own words (the phrases the model weighed most), so it is free text too.
_MENTION_TEXT = (2, 4, 6, 7, 8, 9, 15, 16)
# The control characters strip_controls() drops, but CR (counted apart: every CSV line ends in one), TAB and LF.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# One cell of a line csv_line() wrote: a quoted text cell (its quotes doubled), or one of our numbers and labels.
_CELL = re.compile(r'"[^"]*(?:""[^"]*)*"|[^,"]*')


def _writer(out: Any) -> Any:
    return csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")


def _sentiment_order(sentiment: Any) -> Any:
    # Ties go to the worse feeling: a report should not make a thread look happier than it was.
    return case({"negative": 0, "neutral": 1, "positive": 2}, value=sentiment, else_=3)


def _active(period: Period, dialect: str = "", scan: bool = False, ids: Sequence[int] = ()) -> Any:
    """Threads with posts in the period, and how many. On SQLite also each one's first customer post in the
    period (first_at, first_id), by its "bare column" rule: next to a lone min(), a plain column comes from the
    row holding the minimum. For most threads that post is the first of all, found without a lookup per thread.
    """
    columns: list[Any] = [col(Mention.thread_id), func.count().label("posts")]
    if dialect == "sqlite":
        inbound_at = case((col(Mention.is_own).is_(False), col(Mention.created_at)))
        columns += [func.min(inbound_at).label("first_at"), col(Mention.id).label("first_id")]
    query = select(*columns).where(*created_between(period.start, period.end, scan=scan))
    if ids:
        # A few threads (the page's most urgent): group their posts only, not the whole period's.
        query = query.where(col(Mention.thread_id).in_(list(ids)))
    return query.group_by(col(Mention.thread_id)).subquery()


def thread_query(
    period: Period, dialect: str, *, lines: bool = False, ids: Sequence[int] = (), scan: bool = False
) -> Any:
    """One row per thread with any post (the customer's or the brand's) in the period, with its first customer
    message; when that one is unscored, the thread's most frequent sentiment stands in.

    The values as stored, or with `lines` each row as threads.csv's line in three parts: the cells before the
    response time, its seconds (Python adds them in words), the cells after it.
    `ids`: only these threads. `scan`: read the period's mentions without the created_at index (wide_range).
    """
    # A few threads: SQLite should find their posts by thread, not walk the period's time index.
    active = _active(period, dialect, scan=scan or (bool(ids) and dialect == "sqlite"), ids=ids)
    inbound = aliased(Mention)
    first_id: Any = (
        select(func.min(inbound.id))
        .where(
            col(inbound.thread_id) == col(Thread.id),
            col(inbound.is_own).is_(False),
            col(inbound.created_at) == col(Thread.first_inbound_at),
        )
        .correlate(Thread)
        .scalar_subquery()
    )
    if dialect == "sqlite":
        # Ties (two first posts in the same microsecond) are rare enough to take either.
        first_id = case(
            (active.c.first_at == col(Thread.first_inbound_at), active.c.first_id), else_=first_id
        )
    scored = aliased(Mention)
    dominant = (
        select(col(scored.sentiment))
        .where(col(scored.thread_id) == col(Thread.id), col(scored.is_own).is_(False))
        .where(col(scored.sentiment).is_not(None))
        .group_by(col(scored.sentiment))
        .order_by(func.count().desc(), _sentiment_order(scored.sentiment))
        .limit(1)
        .correlate(Thread)
        .scalar_subquery()
    )
    first, author = aliased(Mention), aliased(Identity)
    waited = func.round(epoch(Thread.first_response_at, dialect) - epoch(Thread.first_inbound_at, dialect))
    # Once: each mention of an expression is evaluated again, and this one parses two timestamps.
    if dialect == "sqlite":
        seconds: Any = cast(func.max(waited, 0), Integer)  # NULL (never answered) stays NULL
    else:
        # GREATEST skips NULLs: a thread never answered would read "answered in 0s".
        answered = col(Thread.first_response_at).is_not(None)
        seconds = case((answered, cast(func.greatest(waited, 0), Integer)))
    before: list[Any] = [
        col(Thread.id),
        col(Customer.display_name),
        col(author.handle),
        col(Thread.network),
        col(Thread.brand),
        col(first.text),
        func.coalesce(col(first.sentiment), dominant),
        col(Thread.urgency),
        col(Thread.tier),
    ]
    after: list[Any] = [
        col(Thread.status),
        col(Thread.assignee),
        col(Thread.mention_count),
        active.c.posts,
        iso_text(col(Thread.first_activity_at), dialect),
        iso_text(col(Thread.last_activity_at), dialect),
    ]
    if lines:
        # Free text (names, the message, the assignee) becomes formula-safe quoted cells; the labels are ours.
        # The cell positions of THREAD_COLUMNS: two response cells sit between the parts.
        before = [csv_line(before, [i for i in _THREAD_TEXT if i < 9]).concat(",")]
        after = [literal(",", String).concat(csv_line(after, [i - 11 for i in _THREAD_TEXT if i > 10]))]
    query = (
        select(*before, seconds, *after)
        .select_from(active)
        .join(Thread, col(Thread.id) == active.c.thread_id)
        .outerjoin(Customer, col(Customer.id) == col(Thread.customer_id))
        .outerjoin(first, col(first.id) == first_id)
        .outerjoin(author, col(author.id) == col(first.identity_id))
        .order_by(col(Thread.id))
    )
    return query.where(col(Thread.id).in_(list(ids))) if ids else query


def write_threads_csv(session: Session, period: Period, out: Any) -> int:
    """Write threads.csv; return how many rows."""
    _writer(out).writerow(THREAD_COLUMNS)
    count = 0
    scan = wide_range(session, period.start, period.end)
    for batch in stream_rows(session, thread_query(period, dialect_of(session), lines=True, scan=scan)):
        lines = [before + _response_cells(seconds) + after for before, seconds, after in batch]
        _write_lines(out, lines, _THREAD_TEXT)
        count += len(lines)
    return count


@lru_cache(maxsize=65536)
def _response_cells(seconds: int | None) -> str:
    # The response time in seconds and in words. Joined here: in SQL the words would parse both timestamps again
    # for each part. Response times repeat (whole minutes): a week's threads say far fewer than they are.
    return "," if seconds is None else f"{seconds},{human_duration(seconds)}"


def most_urgent_ids(session: Session, period: Period, limit: int = URGENT_ROWS) -> list[int]:
    """The period's most urgent threads: by urgency, then the most recently active, then the oldest."""
    posted = (
        select(col(Mention.id))
        .where(
            col(Mention.thread_id) == col(Thread.id), *in_span(Mention.created_at, period.start, period.end)
        )
        .exists()
    )
    rows = session.execute(
        select(col(Thread.id))
        .where(posted)
        .order_by(col(Thread.urgency).desc(), col(Thread.last_activity_at).desc(), col(Thread.id))
        .limit(limit)
    ).scalars()
    return [int(i) for i in rows if i is not None]


def urgent_threads(session: Session, period: Period, ids: Sequence[int]) -> list[ThreadRow]:
    """The threads `ids` (in that order) as the page shows them: values as stored, not as CSV cells."""
    if not ids:
        return []
    rows = {
        row[0]: row
        for rows in stream_rows(session, thread_query(period, dialect_of(session), ids=ids))
        for row in rows
    }
    return [_thread_row(rows[i]) for i in ids if i in rows]


def _thread_row(row: Sequence[Any]) -> ThreadRow:
    tid, customer, handle, network, brand, text, sentiment, urgency, tier, seconds = row[:10]
    status, assignee, mentions, posts, first_at, last_at = row[10:16]
    return ThreadRow(
        thread_id=tid,
        customer=one_line(customer or ""),
        handle=one_line(handle or ""),
        network=network,
        brand=one_line(brand or ""),
        first_message=strip_controls(text or "").strip(),
        sentiment=sentiment or "",
        urgency=urgency,
        tier=tier,
        first_response_seconds=None if seconds is None else int(seconds),
        status=status,
        assignee=one_line(assignee or ""),
        mentions=mentions,
        mentions_in_week=posts,
        first_activity=first_at or "",
        last_activity=last_at or "",
    )


def _write_lines(out: Any, lines: Sequence[str], texts: Sequence[int]) -> None:
    """Write CSV lines the SQL made (csv_line); control characters are looked for in the whole batch at once (C
    speed), and only a batch holding one is written again row by row, its text cells (`texts`) cleaned. Every
    line ends in CRLF, so more CRs than lines means one inside a cell, which strip_controls() turns into LF.
    """
    chunk = "\r\n".join(lines) + "\r\n" if lines else ""
    if _CONTROL.search(chunk) is not None or chunk.count("\r") != len(lines):
        # Outside the quoted text cells a line holds only our numbers and labels, so stripping the whole line
        # cleans just those cells; the csv module then reads the cells back to check them for formulas again.
        buffer = io.StringIO()
        rows = (_cells(strip_controls(line)) for line in lines)
        _writer(buffer).writerows(_clean(row, texts) for row in rows)
        chunk = buffer.getvalue()
    out.write(chunk)


def _cells(line: str) -> list[str]:
    """The cells of a line csv_line() wrote. Not csv.reader: it refuses a cell over 131,072 characters (its field
    limit, shared by the whole process), and one long post must not fail the week's report."""
    cells, at = [], 0
    while True:
        match = _CELL.match(line, at)
        assert match is not None  # the pattern matches the empty string, so every position
        cell = match.group(0)
        cells.append(cell[1:-1].replace('""', '"') if cell.startswith('"') else cell)
        at = match.end()
        if at >= len(line):
            return cells
        if line[at] != ",":
            raise ValueError(f"not a line csv_line() wrote: {line[max(at - 20, 0) : at + 20]!r}")
        at += 1


def _clean(row: Sequence[Any], texts: Sequence[int]) -> list[Any]:
    """The row with its text cells rid of control characters. The SQL made them formula-safe already, but a
    control character dropped may uncover a formula start, so csv_safe runs again."""
    cells = list(row)
    for i in texts:
        cells[i] = csv_safe(strip_controls(cells[i] or ""))
    return cells


def mention_query(period: Period | None, dialect: str, scan: bool = False) -> Any:
    """The CSV lines (csv_line) of the mentions created in `period` (None: every mention), in MENTION_COLUMNS."""
    cells = (
        col(Mention.id),
        col(Mention.network),
        col(Mention.native_id),
        col(Mention.thread_id),
        col(Thread.conversation_id),
        iso_text(col(Mention.created_at), dialect),
        col(Identity.handle),
        col(Mention.brand),
        col(Mention.language),
        col(Mention.text),
        col(Mention.sentiment),
        fixed3(col(Mention.complaint), dialect),
        col(Mention.severity_label),
        col(Mention.urgency),
        col(Mention.urgency_tier),
        joined_list("explanation", dialect),
        joined_list("risks", dialect),
        bool_text(col(Mention.is_own)),
    )
    query = (
        select(csv_line(cells, _MENTION_TEXT))
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .join(Thread, col(Thread.id) == col(Mention.thread_id))
    )
    if period is not None:
        query = query.where(*created_between(period.start, period.end, scan=scan))
    # In the order earful stored them (nearly time order; a backfilled post comes when it arrived): sorting a
    # million rows by time would cost the week's build a second, and a spreadsheet sorts by created_at at once.
    return query.order_by(col(Mention.id))


def write_mentions_csv(session: Session, period: Period | None, out: Any) -> int:
    """Write the mentions of `period` (None: every mention, for `earful export`), the customer's and the brand's,
    one row each in MENTION_COLUMNS; return the count. The caller writes the BOM (write_csv's encoding)."""
    _writer(out).writerow(MENTION_COLUMNS)
    count = 0
    scan = period is None or wide_range(session, period.start, period.end)
    for rows in stream_rows(session, mention_query(period, dialect_of(session), scan)):
        _write_lines(out, [line for (line,) in rows], _MENTION_TEXT)
        count += len(rows)
    return count


WRITERS: dict[str, Callable[[Session, Period, Any], int]] = {
    "threads.csv": write_threads_csv,
    "mentions.csv": write_mentions_csv,
}


def write_csv(session: Session, period: Period, path: Path) -> int:
    """Write `path` (threads.csv or mentions.csv, by its name) atomically; return how many rows."""
    counted: list[int] = []
    with mapped_reads(session):
        write_atomic(
            path,
            lambda out: counted.append(WRITERS[path.name](session, period, out)),
            newline="",
            encoding="utf-8-sig",
        )
    return counted[0]


def write_atomic(
    path: Path,
    write: Callable[[Any], object],
    *,
    newline: str | None = None,
    encoding: str | None = None,
    binary: bool = False,
) -> None:
    """Write next to `path` (mode 0600, the policy of store.private), then rename over it: a reader never sees
    half a report."""
    write_private(path, write, newline=newline, encoding=encoding, binary=binary)
