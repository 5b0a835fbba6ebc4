"""Keyset pages of every view, on SQLite and PostgreSQL alike: together they are the whole view in order, a page
starting after a row never shifts when threads arrive above it, and the last page is the view's true end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from store.inbox_filter import InboxFilter
from store.mentions import save_mentions
from store.models import Thread
from store.queries import VIEW_NAMES, inbox, rows_before, view_counts

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(any_store, make_mention):
    """37 threads with many ties: five urgencies, several threads per minute, some answered (no SLA clock)."""
    items = []
    for i in range(37):
        items.append(
            make_mention(
                f"m{i}",
                conversation=f"c{i}",
                author=f"a{i}",
                text=f"message {i} {'refund' if i % 3 == 0 else 'hello'}",
                urgency=(90, 50, 50, 50, 10)[i % 5],
                tier=("critical", "normal", "normal", "normal", "low")[i % 5],
                minutes=i // 4,
                network="mastodon" if i % 7 == 0 else "x",
            )
        )
    with any_store.write() as s:
        save_mentions(items, session=s)
        for thread in s.exec(select(Thread)):
            if thread.id % 4 == 0:
                thread.status = "pending"
                thread.awaiting_since = thread.sla_due_at = None
            if thread.id % 9 == 0:
                thread.assignee = "alice"
            s.add(thread)
    return any_store


def read(store, view, filters=None, **page):
    with store.read() as s:
        return inbox(session=s, view=view, responder="alice", filters=filters, now=NOW, **page)


@pytest.mark.parametrize("filters", [None, InboxFilter.parse("refund OR net:mastodon")])
def test_pages_after_each_other_are_the_whole_view_in_order(store, filters):
    for view in VIEW_NAMES:
        whole = [r.thread_id for r in read(store, view, filters, limit=1000)]
        with store.read() as s:
            assert view_counts(session=s, responder="alice", filters=filters, now=NOW)[view] == len(whole)
        for size in (1, 4, 7):
            pages, after = [], None
            while page := read(store, view, filters, limit=size, after=after):
                pages += [r.thread_id for r in page]
                after = page[-1].key
            assert pages == whole, (view, size)
        for size in (1, 5, 50):
            assert [r.thread_id for r in read(store, view, filters, limit=size, last=True)] == whole[-size:]
        rows = read(store, view, filters, limit=1000)
        for i in range(0, len(rows), 3):
            before = [r.thread_id for r in read(store, view, filters, limit=4, before=rows[i].key)]
            assert before == whole[max(0, i - 4) : i], (view, i)
            with store.read() as s:
                where = rows_before(
                    rows[i].key, session=s, view=view, responder="alice", filters=filters, now=NOW
                )
            assert where == i


def test_the_next_page_does_not_shift_when_threads_arrive_above_it(store, make_mention):
    first = read(store, "inbox", limit=5)
    expected = [r.thread_id for r in read(store, "inbox", limit=1000)][5:10]
    with store.write() as s:
        save_mentions(
            [
                make_mention(f"new{i}", conversation=f"new{i}", author=f"n{i}", urgency=99, tier="critical")
                for i in range(3)
            ],
            session=s,
        )
    assert [r.thread_id for r in read(store, "inbox", limit=5, after=first[-1].key)] == expected
    assert [r.urgency for r in read(store, "inbox", limit=3)] == [99, 99, 99]
