"""Names and tags are cleaned when stored, not only when shown: an assignee holding ESC retitled the terminal of
every colleague whose desk showed it, and exports, alerts and the CLI print what is stored. Real databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from customer_kit import customer_of, store_message
from sqlmodel import select

from responders.customers import CustomerBook
from responders.desk import Desk
from responders.outbox import Outbox
from store.desk_actions import change_threads, retag
from store.mentions import save_mentions
from store.models import DeskAction, Presence, Thread, ThreadNote

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
ESCAPES = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m\x7f"


def new_thread(store, make_mention) -> int:
    with store.write() as s:
        (stored,) = save_mentions([make_mention("t1", conversation="t1")], session=s).stored
    return stored.thread_id


def test_an_assignee_given_with_escapes_is_stored_without_them(any_store, make_mention):
    thread_id = new_thread(any_store, make_mention)
    desk = Desk(store=any_store, responder="alice", outbox=Outbox(any_store, {}))
    # Only a name that worked on the desk is assignable: here one whose own desk was named with escapes.
    Desk(store=any_store, responder=f"bob{ESCAPES}", outbox=Outbox(any_store, {})).viewing(None)
    result = desk.assign([thread_id], f"bob{ESCAPES}")
    assert result.done == [thread_id]
    with any_store.read() as s:
        thread = s.get(Thread, thread_id)
        action = s.exec(select(DeskAction)).one()
    assert thread is not None and thread.assignee == "bob]0;pwned]52;c;ZXZpbA==[2J31m"
    assert action.before["_set"] == {"assignee": "bob]0;pwned]52;c;ZXZpbA==[2J31m"}
    with pytest.raises(ValueError, match="assign to whom"):
        desk.assign([thread_id], "\x1b\x07")


def test_a_responder_named_with_escapes_is_stored_clean_everywhere_it_goes(any_store, make_mention):
    thread_id = new_thread(any_store, make_mention)
    desk = Desk(store=any_store, responder=f"al{ESCAPES}ice", outbox=Outbox(any_store, {}))
    desk.claim(thread_id)
    desk.viewing(thread_id)
    desk.add_note(thread_id, "called them")
    desk.tag([thread_id], "refund")
    clean = "al]0;pwned]52;c;ZXZpbA==[2J31mice"
    with any_store.read() as s:
        thread = s.get(Thread, thread_id)
        presence = s.exec(select(Presence)).one()
        note = s.exec(select(ThreadNote)).one()
        actions = s.exec(select(DeskAction)).all()
    assert thread is not None and thread.assignee == clean and thread.tags == ["refund"]
    assert presence.responder == note.responder == clean
    assert {a.responder for a in actions} == {clean}
    # Stored and looked up by the same name: its own thread is not "held by someone else".
    assert desk.undo() == f"Undid tag refund of thread {thread_id}"


def test_the_store_cleans_names_and_tags_whoever_calls_it(any_store, make_mention):
    thread_id = new_thread(any_store, make_mention)
    with any_store.write() as s:
        retag([thread_id], f"vip{ESCAPES}", add=True, responder="alice", session=s, now=NOW)
        change_threads(
            [thread_id], {"assignee": f"eve{ESCAPES}"}, kind="assign", responder="alice", session=s, now=NOW
        )
    with any_store.read() as s:
        thread = s.get(Thread, thread_id)
    assert thread is not None
    assert thread.assignee == "eve]0;pwned]52;c;ZXZpbA==[2J31m"
    assert thread.tags == ["vip]0;pwned]52;c;ZXZpbA==[2J31m"]


def test_a_record_detached_from_a_network_name_holds_no_escape(any_store, make_mention):
    store_message(any_store, "1", make_mention=make_mention, author="jane", display="Jane")
    store_message(any_store, "2", make_mention=make_mention, author="mal", display=f"Mal{ESCAPES}")
    book = CustomerBook(any_store, "alice")
    jane, mal = customer_of(any_store, "jane"), customer_of(any_store, "mal")
    book.merge(jane, mal)
    view = book.view(jane)
    assert view is not None
    identity = next(i for i in view.identities if i.handle == "mal")
    assert identity.id is not None
    detached = book.detach(identity.id)
    assert detached.display_name == "Mal]0;pwned]52;c;ZXZpbA==[2J31m"
