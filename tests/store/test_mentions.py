"""Storing mentions: once each, linked to one thread and one customer, whatever the back end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from store.errors import Fault, classify
from store.mentions import get_cursor, save_mentions
from store.models import Customer, Identity, Mention, SourceCursor, Thread, ThreadStatus

MON = datetime(2026, 11, 16, 9, tzinfo=UTC)
SLA = {"critical": timedelta(minutes=15), "high": timedelta(hours=1), "normal": timedelta(hours=4)}


def count(store, table) -> int:
    with store.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def snapshot(store) -> dict:
    with store.read() as s:
        threads = [t.model_dump(exclude={"updated_at"}) for t in s.exec(select(Thread))]
        mentions = [m.model_dump(exclude={"stored_at", "received_at"}) for m in s.exec(select(Mention))]
        return {"threads": threads, "mentions": mentions, "customers": count(store, Customer)}


def test_the_same_event_twice_changes_nothing(any_store, make_mention):
    batch = [
        make_mention("1"),
        make_mention("2", minutes=1),
        make_mention("3", own=True, author="b", minutes=2),
    ]
    with any_store.write() as s:
        first = save_mentions(batch, session=s, sla=SLA)
    before = snapshot(any_store)

    with any_store.write() as s:
        again = save_mentions(batch + [make_mention("2", minutes=1)], session=s, sla=SLA)

    assert (len(first.stored), first.duplicates) == (3, 0)
    assert (len(again.stored), again.duplicates) == (0, 4)
    assert snapshot(any_store) == before
    assert before["threads"][0]["mention_count"] == 3


def test_a_duplicate_inside_one_batch_is_stored_once(any_store, make_mention):
    with any_store.write() as s:
        result = save_mentions([make_mention("7"), make_mention("7")], session=s)
    assert (len(result.stored), result.duplicates) == (1, 1)
    assert count(any_store, Mention) == 1


def test_one_author_is_one_customer_across_threads(any_store, make_mention):
    with any_store.write() as s:
        save_mentions(
            [
                make_mention("1", conversation="a", author="jane"),
                make_mention("2", conversation="b", author="jane", minutes=5),
                make_mention("3", conversation="c", author="omar", minutes=6),
            ],
            session=s,
        )
    with any_store.read() as s:
        jane = s.exec(select(Identity).where(Identity.native_user_id == "jane")).one()
        threads = s.exec(select(Thread).where(Thread.customer_id == jane.customer_id)).all()
    assert sorted(t.conversation_id for t in threads) == ["a", "b"]
    assert count(any_store, Customer) == 2


def test_brand_posts_join_the_thread_but_are_never_customers(any_store, make_mention):
    with any_store.write() as s:
        save_mentions(
            [make_mention("1", own=True, author="acme"), make_mention("2", author="jane", minutes=1)],
            session=s,
        )
    with any_store.read() as s:
        thread = s.exec(select(Thread)).one()
        brand = s.exec(select(Identity).where(Identity.native_user_id == "acme")).one()
        jane = s.exec(select(Identity).where(Identity.native_user_id == "jane")).one()
    assert brand.is_own and brand.customer_id is None
    assert thread.customer_id == jane.customer_id
    assert thread.status == ThreadStatus.NEW  # the customer's message is what needs an answer
    assert count(any_store, Customer) == 1


def test_a_thread_the_brand_started_waits_for_the_customer(any_store, make_mention):
    with any_store.write() as s:
        save_mentions([make_mention("1", own=True, author="acme")], session=s)
    with any_store.read() as s:
        thread = s.exec(select(Thread)).one()
    assert thread.status == ThreadStatus.PENDING and thread.awaiting_since is None
    assert count(any_store, Customer) == 0


def test_the_thread_follows_the_conversation(any_store, make_mention):
    def thread():
        with any_store.read() as s:
            return s.exec(select(Thread)).one()

    with any_store.write() as s:
        save_mentions([make_mention("1", urgency=80, tier="critical")], session=s, sla=SLA)
    t = thread()
    assert t.status == ThreadStatus.NEW and t.urgency == 80
    assert t.sla_due_at == t.awaiting_since + SLA["critical"]

    with any_store.write() as s:
        save_mentions([make_mention("2", own=True, author="acme", minutes=10)], session=s, sla=SLA)
    t = thread()
    assert t.status == ThreadStatus.PENDING
    assert t.awaiting_since is None and t.sla_due_at is None
    assert t.first_response_at - t.first_inbound_at == timedelta(minutes=10)

    # The customer writes again, calmer: the thread reopens and is judged on what is now unanswered.
    with any_store.write() as s:
        save_mentions([make_mention("3", urgency=20, tier="low", minutes=30)], session=s, sla=SLA)
    t = thread()
    assert t.status == ThreadStatus.OPEN and t.urgency == 20 and t.tier == "low"
    assert t.first_response_at - t.first_inbound_at == timedelta(minutes=10)


def test_cursor_moves_forward_only_and_with_the_mentions(any_store, make_mention):
    with any_store.write() as s:
        save_mentions([make_mention("100", source="x:acme"), make_mention("99", source="x:acme")], session=s)
    with any_store.read() as s:
        assert get_cursor("x:acme", session=s) == "100"

    # A unit of work that fails leaves neither the mention nor the cursor behind.
    with pytest.raises(RuntimeError), any_store.write() as s:
        save_mentions([make_mention("1000", source="x:acme")], session=s)
        raise RuntimeError("crash before commit")
    with any_store.read() as s:
        assert get_cursor("x:acme", session=s) == "100"
    assert count(any_store, Mention) == 2
    assert count(any_store, SourceCursor) == 1


def test_odd_unicode_and_markup_are_kept_exactly(any_store, make_mention):
    texts = [
        "[bold red]hi[/] \x1b[31m",
        "\u202eevil\u202c ok",
        "zalgo z\u0335\u0321a\u0334",
        "😡" * 300,
        "ا لسلام",
    ]
    with any_store.write() as s:
        save_mentions([make_mention(str(i), text=t) for i, t in enumerate(texts)], session=s)
    with any_store.read() as s:
        stored = [m.text for m in s.exec(select(Mention).order_by(Mention.native_id))]
    assert stored == texts


def test_nul_and_lone_surrogates_are_dropped_from_every_network_so_the_mention_is_kept(any_store):
    # PostgreSQL refuses both; a Mastodon or Reddit post carrying one (JSON can: "\u0000", "\ud800") used to be
    # refused whole, a customer's complaint lost to one invisible character.
    from store.incoming import Author, NewMention, ScoredMention

    odd = "order\x00 12345 \ud800never came"
    mentions = [
        ScoredMention(
            mention=NewMention(
                network=network,
                native_id=f"{network}-1",
                conversation_id=f"c\x00{network}",
                text=odd,
                created_at=MON,
                author=Author(native_user_id="u\x00", handle="ja\x00ne", display_name="Jane \udc80Doe"),
                raw={"content": odd, "nested": [{"k\x00": "\ud83d"}]},
            )
        )
        for network in ("mastodon", "reddit")
    ]
    with any_store.write() as s:
        result = save_mentions(mentions, session=s)
    assert result.rejected == [] and len(result.stored) == 2
    with any_store.read() as s:
        stored = s.exec(select(Mention)).all()
        handles = {i.handle for i in s.exec(select(Identity))}
    assert [m.text for m in stored] == ["order 12345 never came"] * 2
    assert stored[0].raw == {"content": "order 12345 never came", "nested": [{"k": ""}]}
    assert handles == {"jane"}


def test_what_the_database_refuses_is_reported_and_the_rest_is_kept(any_store, make_mention):
    # An urgency past any integer column: both back ends refuse it (SQLite's driver cannot even bind it).
    batch = [make_mention("1"), make_mention("9", minutes=1, urgency=10**20), make_mention("2", minutes=2)]
    with pytest.raises(Exception) as whole:
        with any_store.write() as s:
            save_mentions(batch, session=s)
    assert classify(whole.value) is Fault.ROW
    with any_store.write() as s:
        result = save_mentions(batch, session=s, isolate=True)
    assert [m.native_id for m in result.stored] == ["1", "2"]
    assert len(result.rejected) == 1 and result.rejected[0][1].startswith("the database refused it: ")
    assert count(any_store, Mention) == 2
