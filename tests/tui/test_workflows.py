"""Triage workflows as a responder runs them: views, filters, bulk actions, snooze, undo, colleagues, help."""

from __future__ import annotations

import io

from desk_kit import wait_for
from rich.console import Console
from sqlmodel import select
from textual.widgets import DataTable, Input, Static

from earful.app import make_desk, make_tui
from store import Store
from store.mentions import save_mentions
from store.models import Reply, Thread, ThreadNote
from tui.header import DeskHeader
from tui.help import HelpScreen
from tui.inbox import MESSAGE, OWNER, SELECTED, STATUS, InboxScreen
from tui.pickers import AssignPicker
from tui.thread import ThreadScreen


def rows(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [table.get_row_at(i)[MESSAGE].plain for i in range(table.row_count)]


def cell(app, row: int, column: int) -> str:
    return app.screen.query_one(DataTable).get_row_at(row)[column].plain


def printed(renderable) -> str:
    console = Console(width=140, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def sidebar(app) -> str:
    return str(app.screen.query_one("#views", Static).render())


def inbox_ready(app, n: int):
    return lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == n


def threads(world) -> dict[str, Thread]:
    with world.store.read() as s:
        found = {t.conversation_id: t for t in s.exec(select(Thread))}
    return {name: found[tweet.conversation_id] for name, tweet in world.tweets.items()}


def bob_desk(world, **desk):
    """A colleague's desk on the same store."""
    settings = world.settings.desk.model_copy(update={"responder": "bob", **desk})
    return make_desk(world.settings.model_copy(update={"desk": settings}), store=world.store)


def three_threads(world) -> None:
    world.store_tweet(
        "fire",
        "@AcmeSupport the charger caught fire",
        author="ann",
        display="Ann",
        urgency=95,
        tier="critical",
    )
    world.store_tweet(
        "late", "@AcmeSupport parcel late again", author="bea", display="Bea", urgency=50, tier="normal"
    )
    world.store_tweet(
        "thanks",
        "@AcmeSupport merci beaucoup",
        author="cy",
        display="Cy",
        urgency=5,
        tier="low",
        sentiment="positive",
    )


async def test_views_count_in_the_sidebar_and_number_keys_switch_them(world):
    three_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 3))
        assert "1 inbox" in sidebar(app) and "2 urgent" in sidebar(app)
        assert [line.split()[-1] for line in sidebar(app).splitlines()[:2]] == ["3", "1"]
        await pilot.press("2")  # urgent: critical and high only
        await wait_for(pilot, inbox_ready(app, 1))
        assert rows(app) == ["@AcmeSupport the charger caught fire"]
        await pilot.press("1", "c")  # claim the top one: it is now mine
        await wait_for(pilot, lambda: cell(app, 0, OWNER) == "alice")
        await pilot.press("4")  # mine
        await wait_for(pilot, inbox_ready(app, 1))
        await pilot.press("3")  # unassigned: the two others
        await wait_for(pilot, inbox_ready(app, 2))


async def test_filter_by_tier_and_by_words(world):
    three_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 3))
        await pilot.press("slash")
        assert app.screen.query_one("#filter", Input).has_focus
        await pilot.press(*"tier:critical,low", "enter")
        await wait_for(pilot, inbox_ready(app, 2))
        assert "filtered" in sidebar(app)

        box = app.screen.query_one("#filter", Input)
        box.value = ""
        await pilot.press("slash", *"parcel", "enter")
        await wait_for(pilot, inbox_ready(app, 1))
        assert rows(app) == ["@AcmeSupport parcel late again"]

        # A mistyped key is named in the filter bar, and the list no longer shows the last filter's threads
        # under the new text: it is emptied and says why.
        box.value = ""
        await pilot.press("slash", *"colour:red", "enter")
        error = app.screen.query_one("#filter-error", Static)
        await wait_for(pilot, lambda: "unknown filter colour:" in str(error.render()))
        await wait_for(pilot, inbox_ready(app, 0))
        assert "filter not applied" in sidebar(app)
        assert "filter has an error" in str(app.screen.query_one("#preview", Static).render())
        box.value = ""
        await pilot.press("enter")  # an empty filter shows everything again
        await wait_for(pilot, inbox_ready(app, 3))
        assert not error.display


async def test_select_two_resolve_them_together_then_undo(world):
    three_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 3))
        await pilot.press("space", "space")  # selects the first two, the cursor moving down
        assert [cell(app, i, SELECTED) for i in range(3)] == ["●", "●", " "]
        await pilot.press("d")
        await wait_for(pilot, inbox_ready(app, 1))
        assert {t.status for t in threads(world).values()} == {"resolved", "new"}
        assert threads(world)["thanks"].status == "new"

        await pilot.press("u")
        await wait_for(pilot, inbox_ready(app, 3))
    assert {t.status for t in threads(world).values()} == {"new"}


async def test_snooze_until_the_customer_writes_again(world):
    three_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 3))
        await pilot.press("z", "1")  # "until they write again", on the thread under the cursor
        await wait_for(pilot, inbox_ready(app, 2))
        assert "fire" not in " ".join(rows(app))
        await pilot.press("5")  # snoozed
        await wait_for(pilot, inbox_ready(app, 1))
        assert cell(app, 0, STATUS) == "snoozed"

        world.store_tweet(
            "fire2",
            "@AcmeSupport hello?? still burning",
            author="ann",
            display="Ann",
            urgency=97,
            tier="critical",
            in_reply_to=world.tweets["fire"].id,
            minutes=5,
        )
        await pilot.press("1")
        await wait_for(pilot, inbox_ready(app, 3))
        assert rows(app)[0] == "@AcmeSupport hello?? still burning"


async def test_a_colleagues_claim_holds_and_their_presence_shows(world):
    three_threads(world)
    fire = threads(world)["fire"].id
    bob = bob_desk(world)
    bob.claim(fire)
    bob.viewing(fire)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 3))
        assert cell(app, 0, OWNER) == "bob ◉bob"
        await pilot.press("c")
        await wait_for(pilot, lambda: any("held by bob" in n.message for n in app._notifications))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        assert "bob viewing" in str(app.screen.query_one("#thread-title", Static).render())
    assert threads(world)["fire"].assignee == "bob"


async def test_live_mentions_keep_the_selection_and_a_critical_one_flashes(world):
    world.store_tweet("a", "@AcmeSupport first", author="a", display="A", urgency=40, tier="normal")
    world.store_tweet("b", "@AcmeSupport second", author="b", display="B", urgency=30, tier="normal")
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 2))
        await pilot.press("j", "space")  # select "second"
        world.store_tweet("c", "@AcmeSupport SCAM!!", author="c", display="C", urgency=95, tier="critical")
        await wait_for(pilot, inbox_ready(app, 3))
        assert rows(app)[0] == "@AcmeSupport SCAM!!"
        assert [cell(app, i, SELECTED) for i in range(3)] == [" ", " ", "●"]
        assert app.screen.query_one(DeskHeader).has_class("flash")
        # The toast is posted to the app, not shown within the same call.
        await wait_for(pilot, lambda: any("new critical" in n.message for n in app._notifications))


async def test_help_is_generated_from_the_bindings_and_shows_remapped_keys(world):
    world.store_tweet("a", "@AcmeSupport help", author="a", display="A", urgency=40, tier="normal")
    world.settings.desk.keys = {"inbox.done": "e"}
    app = make_tui(world.desk, settings=world.settings)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 1))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = printed(app.screen.query_one("#keys", Static).content)
        done = next(line for line in shown.splitlines() if "Mark the selected threads resolved" in line)
        assert done.split()[0] == "e" and "inbox.done" in done
        assert "Snooze" in shown and "Undo" in shown
        await pilot.press("escape", "e")
        await wait_for(pilot, inbox_ready(app, 0))


async def test_an_internal_note_is_kept_on_the_thread_and_never_sent(world):
    world.store_tweet(
        "a", "@AcmeSupport where is my parcel", author="a", display="A", urgency=40, tier="normal"
    )
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 1))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        await pilot.press("n", *"asked the [b]warehouse[/b]", "ctrl+s")
        await wait_for(
            pilot,
            lambda: any(
                "asked the [b]warehouse[/b]" in str(w.render())
                for w in app.screen.query("#messages Static.note")
            ),
        )
    with world.store.read() as s:
        note = s.exec(select(ThreadNote)).one()
        assert s.exec(select(Reply)).all() == []
    assert (note.responder, note.text) == ("alice", "asked the [b]warehouse[/b]")
    assert world.sandbox.replies == []


async def test_tag_a_selection_then_filter_by_that_tag_and_assign_to_a_colleague(world):
    three_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 3))
        await pilot.press("j", "space", "space")  # "late" and "thanks"
        await pilot.press("t", *"refund", "enter")
        await wait_for(
            pilot, lambda: all(t.tags == ["refund"] for n, t in threads(world).items() if n != "fire")
        )
        await pilot.press("slash", *"tag:refund", "enter")
        await wait_for(pilot, inbox_ready(app, 2))

        bob_desk(world).viewing(None)  # bob has worked on this desk: he is someone a thread can go to
        await pilot.press("a")  # the cursor's thread, the selection having been used
        await wait_for(pilot, lambda: isinstance(app.screen, AssignPicker))
        await pilot.press("2")  # 1 is me, then the others by name
        await wait_for(pilot, lambda: cell(app, app.screen.query_one(DataTable).cursor_row, OWNER) == "bob")
    assert threads(world)["fire"].tags == []


async def test_the_palette_lists_only_what_applies_now(world):
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen))
        screen = app.screen
        # Nothing in the inbox: nothing to open or claim, but filtering, views and undo still apply.
        assert screen.check_action("open_thread", ()) is False and screen.check_action("claim", ()) is False
        assert screen.check_action("filter", ()) is True and screen.check_action("undo", ()) is True
        world.store_tweet("a", "@AcmeSupport hello", author="a", display="A", urgency=40, tier="normal")
        await wait_for(pilot, inbox_ready(app, 1))
        assert screen.check_action("open_thread", ()) is True and screen.check_action("claim", ()) is True
        footer_keys = {b.binding.key for b in screen.active_bindings.values() if b.enabled}
        assert {"enter", "c", "d"} <= footer_keys


async def test_the_reply_box_counts_against_the_network_limit_and_saved_replies_show_their_use(world):
    world.store_tweet(
        "a", "@AcmeSupport where is my parcel", author="a", display="A", urgency=40, tier="normal"
    )
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, inbox_ready(app, 1))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        await pilot.press(*"hello")
        await wait_for(
            pilot, lambda: "5/280 on x" in str(app.screen.query_one("#composer-help", Static).render())
        )
        await pilot.press("escape", "s")
        await pilot.pause(0.2)
        picker = "\n".join(str(o.prompt) for o in app.screen.query_one("OptionList")._options)
        assert "×0" in picker


async def test_a_dead_database_leaves_the_desk_up_and_says_so(world, make_mention, own_pg):
    """PostgreSQL gone under a running desk: the inbox keeps what it shows, the status line says why, an action
    says it was not saved; nothing crashes."""
    store = Store(own_pg.url)
    try:
        store.migrate()
        with store.write() as s:
            save_mentions(
                [make_mention("1", text="@acme where is my refund", urgency=70, tier="high")], session=s
            )
        app = make_tui(make_desk(world.settings, store=store), settings=world.settings)
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, inbox_ready(app, 1))
            own_pg.drop()
            status = app.screen.query_one("#status", Static)
            await wait_for(pilot, lambda: "database unavailable" in str(status.render()))
            assert rows(app) == ["@acme where is my refund"]
            await pilot.press("c")
            await wait_for(
                pilot, lambda: any("Not saved, nothing changed" in n.message for n in app._notifications)
            )
            assert app.is_running
    finally:
        store.dispose()
