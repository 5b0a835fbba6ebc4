"""Which part of a view the inbox holds. A view can hold 100,000 threads; the list holds a window of them, read
by keyset pages (store.inbox_pages): anchored at the view's top, at its end (`G`), or at a row's place once it
has slid down past what is worth keeping. Live refreshes read the same window again, so rows arriving above a
window anchored at a row never shift it.

Pure: the desk is called, nothing is drawn here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from responders.desk import Desk, InboxFilter
from store.queries import InboxKey, InboxRow

# Rows per page; the next page is read when the cursor comes within NEAR rows of the window's edge.
PAGE = 200
NEAR = 20
# Past this many rows the far end of the window is let go: each refresh re-reads the window and redraws it.
MAX_ROWS = 1000


@dataclass(frozen=True)
class Span:
    """What to read: `count` rows from the top, from the end, or from a row's place on (that row included)."""

    anchor: Literal["top", "end", "at"]
    count: int
    key: InboxKey | None = None


@dataclass
class Window:
    span: Span
    rows: list[InboxRow]
    # Whether the first row is the view's first, the last the view's last; how many rows come before the first.
    at_top: bool
    at_end: bool
    offset: int


def read(desk: Desk, view: str, filters: InboxFilter, span: Span, total: int) -> Window:
    """The rows `span` names, as they are now (`total`: how many the view holds, from the same refresh)."""
    if span.anchor == "top":
        rows = desk.inbox(view, filters, limit=span.count)
        return Window(span, rows, True, len(rows) < span.count, 0)
    if span.anchor == "end":
        rows = desk.inbox(view, filters, limit=span.count, last=True)
        return Window(span, rows, len(rows) < span.count, True, max(total - len(rows), 0))
    assert span.key is not None
    # "At or after the row": after a place just before it (no row sorts between a thread id and the one before).
    rows = desk.inbox(
        view, filters, limit=span.count, after=replace(span.key, thread_id=span.key.thread_id - 1)
    )
    offset = desk.rows_before(rows[0].key, view, filters) if rows else total
    return Window(span, rows, offset == 0, len(rows) < span.count, offset)


def next_page(desk: Desk, view: str, filters: InboxFilter, window: Window) -> list[InboxRow]:
    """The page after the window's last row."""
    if not window.rows:
        return []
    return desk.inbox(view, filters, limit=PAGE, after=window.rows[-1].key)


def previous_page(desk: Desk, view: str, filters: InboxFilter, window: Window) -> list[InboxRow]:
    """The page before the window's first row."""
    if not window.rows:
        return []
    return desk.inbox(view, filters, limit=PAGE, before=window.rows[0].key)


def grown_down(window: Window, page: list[InboxRow]) -> Window:
    """The window with the page after it, the top let go past MAX_ROWS (then anchored at its new first row)."""
    seen = {row.thread_id for row in window.rows}
    rows = window.rows + [row for row in page if row.thread_id not in seen]
    at_end = len(page) < PAGE
    drop = max(len(rows) - MAX_ROWS, 0)
    if drop:
        rows = rows[drop:]
        return Window(Span("at", len(rows), rows[0].key), rows, False, at_end, window.offset + drop)
    span = Span(window.span.anchor, len(rows), window.span.key)
    return Window(span, rows, window.at_top, at_end, window.offset)


def grown_up(window: Window, page: list[InboxRow]) -> Window:
    """The window with the page before it, the bottom let go past MAX_ROWS."""
    seen = {row.thread_id for row in window.rows}
    fresh = [row for row in page if row.thread_id not in seen]
    rows = fresh + window.rows
    at_top = len(page) < PAGE
    offset = 0 if at_top else max(window.offset - len(fresh), 0)
    at_end = window.at_end
    if len(rows) > MAX_ROWS:
        rows, at_end = rows[:MAX_ROWS], False
    if at_top:
        return Window(Span("top", len(rows)), rows, True, at_end, 0)
    if at_end and window.span.anchor == "end":
        return Window(Span("end", len(rows)), rows, False, True, offset)
    return Window(Span("at", len(rows), rows[0].key), rows, False, at_end, offset)


def successor(old: list[InboxRow], gone: int, new: list[InboxRow]) -> int | None:
    """Where the cursor goes when its thread left the list: the next thread below it still listed (one first
    read now, if the window ended there), else the nearest above (the one that was last is followed by the one
    before it)."""
    at = next((i for i, row in enumerate(old) if row.thread_id == gone), None)
    if at is None or not new:
        return None
    present = {row.thread_id for row in new}
    for row in old[at + 1 :]:
        if row.thread_id in present:
            return row.thread_id
    where = place(old[at].key)
    for row in new:
        if place(row.key) > where:
            return row.thread_id
    for row in reversed(old[:at]):
        if row.thread_id in present:
            return row.thread_id
    return new[-1].thread_id


_LAST = datetime.max.replace(tzinfo=UTC)


def place(key: InboxKey) -> tuple[int, bool, datetime, bool, datetime, int]:
    """A row's place in the inbox order, as store.inbox_pages sorts (NULLs last)."""
    return (
        -key.urgency,
        key.sla_due_at is None,
        key.sla_due_at or _LAST,
        key.awaiting_since is None,
        key.awaiting_since or _LAST,
        key.thread_id,
    )
