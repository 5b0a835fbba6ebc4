"""Claiming and statuses, as two responders on one database would see them."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from responders.triage import ClaimedByOther, claim, release, set_status, undo
from store.mentions import save_mentions
from store.models import DeskAction, Thread


@pytest.fixture
def thread_id(any_store, make_mention) -> int:
    with any_store.write() as s:
        result = save_mentions([make_mention("1")], session=s)
    return result.stored[0].thread_id


def test_a_claimed_thread_cannot_be_taken_by_someone_else(any_store, thread_id):
    with any_store.write() as s:
        assert claim(thread_id, "alice", session=s).assignee == "alice"
    with pytest.raises(ClaimedByOther) as err, any_store.write() as s:
        claim(thread_id, "bob", session=s)
    assert err.value.holder == "alice"
    # Claiming again what you hold is fine; releasing lets a colleague take it.
    with any_store.write() as s:
        claim(thread_id, "alice", session=s)
        release(thread_id, "alice", session=s)
    with any_store.write() as s:
        assert claim(thread_id, "bob", session=s).assignee == "bob"


def test_two_desks_racing_for_one_thread_cannot_both_win(any_store, thread_id):
    winners: list[str] = []
    barrier = threading.Barrier(2)

    def race(name: str) -> None:
        barrier.wait()
        try:
            with any_store.write() as s:
                claim(thread_id, name, session=s)
            winners.append(name)
        except ClaimedByOther:
            pass

    threads = [threading.Thread(target=race, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with any_store.read() as s:
        holder = s.get(Thread, thread_id).assignee
    assert winners == [holder]


def test_status_moves_and_rejects_unknown_ones(any_store, thread_id):
    with any_store.write() as s:
        set_status(thread_id, "resolved", session=s)
    with any_store.read() as s:
        assert s.get(Thread, thread_id).status == "resolved"
    with pytest.raises(ValueError), any_store.write() as s:
        set_status(thread_id, "archived", session=s)


def test_a_change_and_its_undo_record_are_one_transaction(any_store, thread_id):
    with pytest.raises(RuntimeError), any_store.write() as s:
        claim(thread_id, "alice", session=s)
        raise RuntimeError("the desk crashed before commit")
    with any_store.read() as s:
        assert s.get(Thread, thread_id).assignee is None
        assert s.exec(select(DeskAction)).all() == []
    with any_store.write() as s:
        claim(thread_id, "alice", session=s)
    with any_store.read() as s:
        action = s.exec(select(DeskAction)).one()
    assert (action.responder, action.kind, action.thread_ids) == ("alice", "claim", [thread_id])
    assert action.before[str(thread_id)] == {"assignee": None}


def test_a_responder_cannot_move_a_thread_a_colleague_holds(any_store, thread_id):
    with any_store.write() as s:
        claim(thread_id, "bob", session=s)
    with pytest.raises(ClaimedByOther) as err, any_store.write() as s:
        set_status(thread_id, "resolved", session=s, responder="alice")
    assert err.value.holder == "bob"
    with any_store.write() as s:
        set_status(thread_id, "pending", session=s, responder="bob")
        # Releasing someone else's thread does nothing; releasing your own is undoable like any action.
        assert release(thread_id, "alice", session=s).assignee == "bob"
        release(thread_id, "bob", session=s)
    with any_store.write() as s:
        assert undo("bob", session=s) == f"Undid release of thread {thread_id}"
    with any_store.read() as s:
        assert (s.get(Thread, thread_id).assignee, s.get(Thread, thread_id).status) == ("bob", "pending")
