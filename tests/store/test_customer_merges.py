"""Customer records in the store: merges that can be undone exactly, detaching a wrong link, and the lookups
that find the same person again, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from functools import partial

import pytest
from customer_kit import customer_of, store_message
from sqlmodel import select

from store.customers import (
    customers_listing,
    customers_with_emails,
    detach_identity,
    live,
    merge_customers,
    search_customers,
    threads_started_by,
    undo_merge,
)
from store.models import Customer, Identity, Thread


@pytest.fixture
def post(make_mention):
    """Store one customer message as the pipeline would; look things up by handle afterwards."""
    return partial(store_message, make_mention=make_mention)


def owners(store) -> dict[str, int | None]:
    """Who owns what: 'identity network:handle' and 'thread conversation' -> customer id."""
    with store.read() as s:
        found = {f"identity {i.network}:{i.handle}": i.customer_id for i in s.exec(select(Identity))}
        found |= {f"thread {t.conversation_id}": t.customer_id for t in s.exec(select(Thread))}
    return found


def test_a_merge_moves_everything_and_an_unmerge_puts_back_exactly_that(any_store, post):
    post(any_store, "1", author="jane_x", conversation="jx1")
    post(any_store, "2", author="jane_m", network="mastodon", conversation="jm1")
    post(any_store, "3", author="jane_m", network="mastodon", conversation="jm2", minutes=5)
    jane_x, jane_m = customer_of(any_store, "jane_x"), customer_of(any_store, "jane_m", "mastodon")
    before = owners(any_store)

    with any_store.write() as s:
        merge = merge_customers(jane_x, jane_m, responder="alice", session=s)
    assert set(owners(any_store).values()) == {jane_x}
    assert (merge.responder, sorted(merge.thread_ids), len(merge.identity_ids)) == ("alice", [2, 3], 1)
    with any_store.read() as s:
        assert s.get(Customer, jane_m).merged_into_id == jane_x
        assert live(jane_m, session=s).id == jane_x
        # Hidden from search: only the record it was merged into answers to "jane".
        assert [c.id for c in search_customers("jane", session=s)] == [jane_x]

    # Jane writes again on Mastodon while merged: the new thread is hers, and goes back with her identity.
    post(any_store, "4", author="jane_m", network="mastodon", conversation="jm3", minutes=9)
    assert owners(any_store)["thread jm3"] == jane_x

    with any_store.write() as s:
        restored = undo_merge(merge.id, session=s)
    assert restored.id == jane_m and restored.merged_into_id is None
    assert owners(any_store) == before | {"thread jm3": jane_m}
    with any_store.write() as s, pytest.raises(ValueError, match="already undone"):
        undo_merge(merge.id, session=s)


def test_an_unmerge_leaves_what_was_detached_since_where_the_responder_put_it(any_store, post):
    post(any_store, "1", author="ann", conversation="a1")
    post(any_store, "2", author="bob", conversation="b1")
    post(any_store, "3", author="bob2", network="reddit", conversation="b2")
    ann, bob, bob2 = (
        customer_of(any_store, "ann"),
        customer_of(any_store, "bob"),
        customer_of(any_store, "bob2", "reddit"),
    )
    with any_store.write() as s:
        merge_customers(bob, bob2, responder="alice", session=s)
        merge = merge_customers(ann, bob, responder="alice", session=s)
    with any_store.write() as s:
        bob2_identity = s.exec(select(Identity).where(Identity.handle == "bob2")).one()
        fresh = detach_identity(bob2_identity.id, session=s)
    with any_store.write() as s:
        undo_merge(merge.id, session=s)
    now = owners(any_store)
    assert (now["identity x:bob"], now["thread b1"]) == (bob, bob)
    assert (now["identity reddit:bob2"], now["thread b2"]) == (fresh.id, fresh.id)
    assert (now["identity x:ann"], now["thread a1"]) == (ann, ann)


def test_merges_that_make_no_sense_are_refused_with_the_reason(any_store, post):
    post(any_store, "1", author="a")
    post(any_store, "2", author="b")
    post(any_store, "3", author="c")
    a, b, c = (customer_of(any_store, h) for h in "abc")
    with any_store.write() as s:
        with pytest.raises(ValueError, match="cannot be merged into itself"):
            merge_customers(a, a, responder="alice", session=s)
        with pytest.raises(ValueError, match="no customer 999"):
            merge_customers(a, 999, responder="alice", session=s)
        merge_customers(a, b, responder="alice", session=s)
        with pytest.raises(ValueError, match=f"already merged into {a}"):
            merge_customers(c, b, responder="alice", session=s)
        with pytest.raises(ValueError, match=f"merged into {a}; merge into that record"):
            merge_customers(b, c, responder="alice", session=s)


def test_detach_moves_one_identity_and_the_threads_it_started(any_store, post):
    post(any_store, "1", author="sam", conversation="s1", display="Sam Jones")
    post(any_store, "2", author="sammy", conversation="s2", display="Sammy")
    # Sammy also wrote in Sam's thread: that thread stays with whoever started it.
    post(any_store, "3", author="sammy", conversation="s1", minutes=3)
    sam, sammy = customer_of(any_store, "sam"), customer_of(any_store, "sammy")
    with any_store.write() as s:
        merge_customers(sam, sammy, responder="alice", session=s)
        identity = s.exec(select(Identity).where(Identity.handle == "sammy")).one()
        assert threads_started_by([identity.id], sam, session=s) == [2]
        fresh = detach_identity(identity.id, session=s)
    assert fresh.display_name == "Sammy"
    now = owners(any_store)
    assert (now["identity x:sammy"], now["thread s2"]) == (fresh.id, fresh.id)
    assert (now["identity x:sam"], now["thread s1"]) == (sam, sam)

    with any_store.write() as s, pytest.raises(ValueError, match="only identity"):
        detach_identity(identity.id, session=s)


def test_search_finds_a_customer_by_name_email_or_handle_in_any_case(any_store, post):
    post(any_store, "1", author="JaneDoe", display="Jane Doe")
    post(any_store, "2", author="percent_%", display="100% Real")
    jane = customer_of(any_store, "JaneDoe")
    with any_store.write() as s:
        record = s.get(Customer, jane)
        record.email = "jane@example.com"
        s.add(record)
    with any_store.read() as s:
        for needle in ("jane doe", "JANE@example", "@janedoe", "anedo"):
            assert [c.id for c in search_customers(needle, session=s)] == [jane], needle
        # LIKE wildcards in what the responder types are plain characters.
        assert [c.display_name for c in search_customers("%", session=s)] == ["100% Real"]
        assert search_customers("nobody", session=s) == []


def test_an_email_written_in_a_message_finds_its_writer_through_full_text_search(any_store, post):
    email = {"label": "EMAIL", "text": "Jane.Doe@Example.com"}
    post(any_store, "1", author="jd", text="@acme mail me at Jane.Doe@Example.com please", entities=[email])
    # The same words without the entity (a quoted address the classifier did not take as one) do not count.
    post(any_store, "2", author="other", text="@acme jane.doe example com")
    post(any_store, "3", author="crm", display="Jane D")
    jd, crm = customer_of(any_store, "jd"), customer_of(any_store, "crm")
    with any_store.write() as s:
        record = s.get(Customer, crm)
        record.email = "jane.doe@example.com"
        record.crm_handles = ["mastodon:@jane_d", "x:@j%"]
        s.add(record)
    with any_store.read() as s:
        assert customers_with_emails({"jane.doe@example.com"}, session=s) == {
            jd: {"jane.doe@example.com"},
            crm: {"jane.doe@example.com"},
        }
        assert customers_listing({"mastodon:@jane_d"}, session=s) == {crm: {"mastodon:@jane_d"}}
        # "_" and "%" are no wildcards: "x:@j%" is listed, "x:@jx" is not.
        assert customers_listing({"mastodon:@janexd", "x:@jx"}, session=s) == {}
        assert customers_listing({"x:@j%"}, session=s) == {crm: {"x:@j%"}}
