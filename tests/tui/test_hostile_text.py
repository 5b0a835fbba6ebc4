"""What outside text cannot do to the desk: a network's refusal holding markup does not take it down, a name
holding an escape sequence is stored clean, a filter too big to be a search is refused in the filter bar, and a
query the database refuses is said once instead of being asked again every beat."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from desk_kit import wait_for
from pg_kit import own_database
from sqlalchemy import event
from sqlmodel import select
from textual.widgets import DataTable, Input, OptionList, Static, TextArea

from earful.app import make_desk, make_tui
from store import Store
from store.mentions import save_mentions
from store.models import Reply, Thread
from tui.inbox import MESSAGE, InboxScreen
from tui.pickers import AssignPicker
from tui.thread import ThreadScreen

# What a terminal would run: set the title, write the clipboard (OSC 52), clear the screen, CSI as one C1 byte.
ESCAPES = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m"


def rows(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [table.get_row_at(i)[MESSAGE].plain for i in range(table.row_count)]


def toasts(app) -> list[str]:
    # The tests run with notifications=True: run_test() leaves toasts unrendered by default, and rendering them
    # is where markup in a message used to raise.
    return [n.message for n in app._notifications]


def unsafe(shown: str) -> bool:
    return any(c in shown for c in "\x1b\x07\x9b\r\x7f")


async def test_a_refusal_holding_markup_is_shown_as_written_and_the_reply_kept(world, make_mention):
    """X refuses a reply to a post it does not know, quoting the post's id; an id holding `[/]` and
    `[link=...]` made the toast raise a MarkupError, and the desk quit with the reply left queued."""
    # The store keeps ids of printable ASCII only, so the escapes cannot ride on one; the markup can.
    hostile_id = "9[/][link=x]pay[/link]"
    item = make_mention(
        hostile_id, text="@AcmeSupport refund me", conversation="gone", urgency=60, tier="high"
    )
    with world.store.write() as s:
        save_mentions([item], session=s, sla=world.settings.sla.budgets())
    app = world.app()
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        await pilot.press(*"sorry about that")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("Not sent" in t for t in toasts(app)))
        said = next(t for t in toasts(app) if "Not sent" in t)
        assert "'9[/][link=x]pay[/link]'" in said and "does not exist" in said
        # The desk is up, on the thread. The reply waits in the outbox (shown on the thread with retry and
        # cancel), so the box is free: sending it from the box again would queue it twice.
        assert app.is_running and isinstance(app.screen, ThreadScreen)
        assert app.screen.query_one(TextArea).text == ""
        await wait_for(
            pilot,
            lambda: any(
                "[link=x]pay[/link]" in str(w.render()) for w in app.screen.query(".reply").results(Static)
            ),
        )
        shown = [str(w.render()) for w in app.screen.query(".reply").results(Static)]
        assert not any(unsafe(s) for s in shown)
    assert world.sandbox.replies == []
    with world.store.read() as s:
        reply = s.exec(select(Reply)).one()
    assert reply.text == "sorry about that" and reply.status != "sent"
    assert "[/][link=x]pay[/link]" in (reply.error or "")


async def test_a_name_given_with_escapes_is_stored_clean_and_never_reaches_the_terminal(world):
    world.store_tweet("a", "@AcmeSupport help", author="ann", display="Ann", urgency=50, tier="high")
    # A colleague's desk named with escapes (a pasted name): the picker offers it cleaned, as it was stored.
    named = world.settings.desk.model_copy(update={"responder": f"bob{ESCAPES}"})
    make_desk(world.settings.model_copy(update={"desk": named}), store=world.store).viewing(None)
    app = world.app()
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 1)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AssignPicker))
        offered = [str(o.prompt) for o in app.screen.query_one(OptionList)._options]
        assert not any(unsafe(label) for label in offered)
        await pilot.press("2")
        await wait_for(pilot, lambda: any("assigned" in t for t in toasts(app)))
        with world.store.read() as s:
            thread = s.exec(select(Thread)).one()
        assert thread.assignee == "bob]0;pwned]52;c;ZXZpbA==[2J31m"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        title = str(app.screen.query_one("#thread-title", Static).render())
        assert "bob]0;pwned" in title and not unsafe(title)


@pytest.fixture
def pg_store(make_mention) -> Iterator[Store]:
    """A fresh PostgreSQL database holding one thread, dropped afterwards."""
    with own_database("earful_filter", migrate=True) as own:
        store = Store(own.url)
        try:
            with store.write() as s:
                save_mentions(
                    [make_mention("1", text="@acme where is my refund", urgency=70, tier="high")], session=s
                )
            yield store
        finally:
            store.dispose()


def huge_phrase() -> str:
    return '"' + " ".join(f"w{i}" for i in range(20_000)) + '"'


async def submit_filter(app, pilot, query: str) -> None:
    await pilot.press("slash")
    box = app.screen.query_one("#filter", Input)
    box.value = query
    await pilot.press("enter")


async def test_a_20000_word_phrase_is_refused_in_the_filter_bar_on_postgresql(world, pg_store):
    app = make_tui(make_desk(world.settings, store=pg_store), settings=world.settings)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 1)
        await submit_filter(app, pilot, huge_phrase())
        bar = app.screen.query_one("#filter-error", Static)
        await wait_for(pilot, lambda: bar.display and "Filter not applied" in str(bar.render()))
        assert "characters long; keep it to 2,000" in str(bar.render())
        await pilot.pause(0.5)
        status = str(app.screen.query_one("#status", Static).render())
        assert "database unavailable" not in status and "stack depth" not in status
        inbox = app.screen
        assert isinstance(inbox, InboxScreen) and not inbox.filters
        # Nothing is shown under a filter that is not applied.
        assert rows(app) == []
        # A filter that is a search clears the message.
        await submit_filter(app, pilot, "refund")
        await wait_for(pilot, lambda: not bar.display)
        await wait_for(pilot, lambda: rows(app) == ["@acme where is my refund"])


async def test_a_filter_the_database_refuses_is_said_once_not_asked_again_every_beat(
    world, pg_store, monkeypatch
):
    """Were a filter to get past the bounds, PostgreSQL's refusal of its query is shown once in the filter bar,
    and the desk does not send it again on every refresh until the filter changes."""
    monkeypatch.setattr("store.inbox_filter.MAX_QUERY", 10**6, raising=False)
    monkeypatch.setattr("store.inbox_filter.MAX_CHARS", 10**6, raising=False)
    monkeypatch.setattr("store.inbox_filter.MAX_WORDS", 10**6, raising=False)
    refused: list[str] = []
    event.listen(pg_store.engine, "handle_error", lambda ctx: refused.append(str(ctx.original_exception)))
    app = make_tui(make_desk(world.settings, store=pg_store), settings=world.settings)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 1)
        await submit_filter(app, pilot, huge_phrase())
        bar = app.screen.query_one("#filter-error", Static)
        await wait_for(pilot, lambda: bar.display and "stack depth limit exceeded" in str(bar.render()))
        assert "could not run this filter" in str(bar.render())
        # Ten refresh beats (0.1 s each): the refused query is not sent again.
        await pilot.pause(1.0)
        assert len(refused) == 1 and "stack depth" in refused[0]
        assert sum("could not run this filter" in t for t in toasts(app)) == 1
        assert rows(app) == [] and app.is_running
        await submit_filter(app, pilot, "")
        await wait_for(pilot, lambda: not bar.display)
        assert len(refused) == 1
