"""Saved replies: filled from what the customer already told us, never asking twice."""

from __future__ import annotations

import pytest

from responders.templates import SavedReply, TemplateError, load_saved_replies
from store.mentions import save_mentions


def test_the_shipped_saved_replies_load_and_fit_on_x():
    from earful.settings import REPO_CONFIG

    replies = load_saved_replies(REPO_CONFIG / "replies.toml")
    assert len(replies) >= 4
    long_values = {"name": "Maximilian", "order": "112-3456789-1234567", "agent": "alice"}
    assert all(len(r.fill(long_values)) <= 280 for r in replies)


def test_unknown_variables_stay_visible_and_nothing_else_is_evaluated():
    saved = SavedReply("t", "Hi {name}, order {order}. {name.__class__} {0}")
    assert saved.fill({"name": "{order}"}) == "Hi {order}, order {order}. {name.__class__} {0}"


def test_a_broken_replies_file_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "replies.toml"
    path.write_text('[[reply]]\nname = "x"\n')
    with pytest.raises(TemplateError, match="needs a name and a text"):
        load_saved_replies(path)
    path.write_text("[[reply]\n")
    with pytest.raises(TemplateError, match="not valid TOML"):
        load_saved_replies(path)


def test_the_desk_fills_the_order_the_customer_gave_in_an_earlier_message(sqlite_store, make_mention):
    from responders.desk import Desk
    from responders.outbox import Outbox

    first = make_mention("1", text="@acme where is order #4451", author="jane")
    first.mention.author.display_name = "Jane Doe"
    first.scores.entities = [{"label": "ORDER", "text": "#4451", "start": 21, "end": 26}]
    later = make_mention("2", text="@acme still nothing!!", author="jane", minutes=30)
    with sqlite_store.write() as s:
        thread_id = save_mentions([first, later], session=s).stored[0].thread_id
    desk = Desk(store=sqlite_store, responder="alice", outbox=Outbox(sqlite_store, {}))
    view = desk.thread(thread_id)
    assert view is not None
    text = SavedReply("sorry", "Hi {name}, checking order {order} now. ^{agent}").fill(desk.variables(view))
    assert text == "Hi Jane, checking order #4451 now. ^alice"


def test_a_filled_reply_says_where_the_responder_types_next():
    from responders.templates import unfilled

    refund = SavedReply("refund", "Hi {name}, refund for order {order} started. ^{agent}")
    filled = refund.filled({"name": "Ann", "agent": "alice"})
    start, end = filled.cursor
    assert filled.text[start:end] == "{order}" and filled.blanks == ("order",)
    assert unfilled(filled.text) == ["order"]

    thanks = SavedReply("thanks", "Thanks so much, {name}! ^{agent}").filled(
        {"name": "Ann", "agent": "alice"}
    )
    start, end = thanks.cursor
    assert start == end and thanks.text[:start] == "Thanks so much, Ann!" and thanks.text[start:] == " ^alice"
    plain = SavedReply("plain", "Hello {name}").filled({"name": "Bo"})
    assert plain.cursor == (8, 8) and plain.blanks == ()
