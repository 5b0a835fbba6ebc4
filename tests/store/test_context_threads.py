"""Thread context in the store: the posts a collector fetched above a mention (`NewMention.context`) start the
thread where the conversation did, and are history: they never reopen, re-time, re-rank or alert."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from earful.ingest import BatchWriter
from responders.alerts import AlertSettings
from store.incoming import ScoredMention
from store.mentions import save_mentions
from store.models import AlertFiring, Mention, SourceCursor, Thread, ThreadStatus

BASE = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SLA = {"critical": timedelta(minutes=15), "high": timedelta(hours=1), "normal": timedelta(hours=4)}


def context(item: ScoredMention) -> ScoredMention:
    return ScoredMention(mention=item.mention.model_copy(update={"context": True}), scores=item.scores)


def thread(store) -> Thread:
    with store.read() as s:
        return s.exec(select(Thread)).one()


def first_message(store) -> tuple[str, bool]:
    with store.read() as s:
        row = s.exec(select(Mention).order_by(col(Mention.created_at), col(Mention.id))).first()
        assert row is not None
        return row.native_id, row.is_own


def save(store, *items: ScoredMention) -> None:
    with store.write() as s:
        save_mentions(list(items), session=s, sla=SLA)


def test_context_starts_the_thread_and_times_its_first_answer_in_any_order(any_store, make_mention):
    # The brand's answer and the customer's reply were collected; the customer's first post comes as context.
    answer = make_mention("11", own=True, author="brand", minutes=10)
    reply = make_mention("12", minutes=30, urgency=55, tier="high")
    save(any_store, answer, reply)
    before = thread(any_store)
    assert before.status == ThreadStatus.NEW and before.first_response_at is None

    save(any_store, context(make_mention("10", text="my order never arrived", urgency=90, tier="critical")))

    after = thread(any_store)
    assert first_message(any_store) == ("10", False)
    assert after.first_activity_at == after.first_inbound_at == BASE
    assert after.first_response_at == BASE + timedelta(minutes=10), "the brand's answer is the first response"
    assert after.status == ThreadStatus.OPEN, "answered before: not a first contact"
    # What the desk must answer is still the reply: its wait, its SLA, its urgency.
    assert after.awaiting_since == before.awaiting_since == BASE + timedelta(minutes=30)
    assert after.sla_due_at == before.sla_due_at
    assert (after.urgency, after.tier) == (55, "high")
    assert after.last_activity_at == before.last_activity_at
    assert after.mention_count == 3


def test_context_never_reopens_a_resolved_thread(any_store, make_mention):
    save(any_store, make_mention("21", minutes=10), make_mention("22", own=True, author="brand", minutes=20))
    with any_store.write() as s:
        row = s.exec(select(Thread)).one()
        row.status = ThreadStatus.RESOLVED
        s.add(row)
    save(any_store, context(make_mention("20", urgency=95, tier="critical")))
    after = thread(any_store)
    assert after.status == ThreadStatus.RESOLVED
    assert after.awaiting_since is None and after.sla_due_at is None
    assert after.first_inbound_at == BASE and after.first_activity_at == BASE
    assert first_message(any_store) == ("20", False)


def test_a_context_post_moves_no_cursor(make_mention):
    item = make_mention("30", source="x:search:acme")
    moved = item.mention.model_copy(update={"context": True})
    # Assigned again, as a collector would: the model drops what context cannot carry.
    moved.cursor = "30"
    assert (moved.source, moved.cursor) == (None, None)


def test_context_is_stored_but_never_alerted_on(sqlite_store, make_mention):
    # The default rules alert on every critical mention: the critical context post must stay quiet.
    writer = BatchWriter(
        sqlite_store,
        ThreadPoolExecutor(1),
        sla=lambda: SLA,
        alerts=AlertSettings,
        on_error=lambda _message: None,
        retry_max_seconds=1.0,
    )
    live = make_mention("41", minutes=30, urgency=20, tier="low", source="x:search:acme")
    old = context(make_mention("40", urgency=95, tier="critical"))
    written = asyncio.run(writer.write([live, old], asyncio.Event()))
    assert written is not None and len(written.result.stored) == 2
    assert [m.native_id for m in written.result.news] == ["41"]
    with sqlite_store.read() as s:
        assert s.exec(select(AlertFiring)).all() == []
        assert s.get(SourceCursor, "x:search:acme").value == "41"
