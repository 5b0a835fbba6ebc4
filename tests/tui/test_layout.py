"""The inbox fits any terminal from 80x24 to 250x70: the message column and the whole title on screen, the
customer column growing with the window; and the small things a responder reads all day (plurals, Reddit's
u/name, help that scrolls with j and k)."""

from __future__ import annotations

import pytest
from desk_kit import wait_for
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from tui.help import HelpScreen
from tui.inbox import CUSTOMER, MESSAGE, InboxScreen
from tui.thread import ThreadScreen


def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def one_thread(world, **kw) -> None:
    world.store_tweet(
        "fire",
        "@AcmeSupport my charger caught fire last night and nobody answers",
        author="averymoreau",
        display="Avery Moreau-Lindqvist",
        urgency=95,
        tier="critical",
        **kw,
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 50), (250, 70)])
async def test_the_message_column_and_the_whole_title_are_on_screen_at_any_size(world, size):
    one_thread(world)
    app = world.app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen._rows)
        await pilot.pause(0.2)
        table = app.screen.query_one(DataTable)
        columns = list(table.columns.values())
        # Every column fits in the table: nothing is pushed off the right edge.
        assert sum(c.get_render_width(table) for c in columns) <= table.size.width
        assert columns[MESSAGE].width >= 20
        lines = screen_lines(app)
        assert lines[0].startswith(
            " earful  inbox: 1 thread "
        )  # the whole title, and "1 thread", not "1 threads"
        assert any("@AcmeSupport my charger" in line for line in lines)
        if size[0] >= 160:
            # The customer column shares the extra width with the message: the whole name fits (it was cut
            # at 16 characters at any width), and at 250 columns the handle too.
            assert columns[CUSTOMER].width > 16
            shown = "Avery Moreau-Lindqvist" + (" @averymoreau" if size[0] >= 250 else "")
            assert any(shown in line for line in lines)


async def test_at_80_columns_the_views_fold_into_one_line_above_the_list(world):
    one_thread(world)
    app = world.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen._rows)
        assert not app.screen.query_one("#views").display
        strip = str(app.screen.query_one("#viewbar", Static).render())
        assert strip.startswith("1 inbox 1 2 urg 1 3 unas 1 4 mine 0")
        await pilot.press("2")
        await wait_for(pilot, lambda: screen_lines(app)[0].startswith(" earful  urgent: 1 thread"))


async def test_reddit_names_people_u_slash_name(world):
    world.store_tweet(
        "r",
        "@AcmeSupport refund?",
        author="spez_fan",
        display="",
        urgency=40,
        tier="normal",
        network="reddit",
    )
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen._rows)
        table = app.screen.query_one(DataTable)
        assert table.get_row_at(0)[CUSTOMER].plain == "u/spez_fan"
        assert str(app.screen.query_one("#preview", Static).render()).startswith("u/spez_fan on reddit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        assert "reddit u/spez_fan  10 followers" in str(
            app.screen.query_one("#customer-record", Static).render()
        )
        messages = [str(w.render()) for w in app.screen.query("#messages Static").results(Static)]
        assert any(m.startswith("u/spez_fan ") for m in messages)


async def test_j_and_k_scroll_the_help(world):
    one_thread(world)
    app = world.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen._rows)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        scroll = app.screen.query_one(VerticalScroll)
        await wait_for(pilot, lambda: scroll.max_scroll_y > 0)
        await pilot.press("j", "j", "j")
        await wait_for(pilot, lambda: scroll.scroll_y == 3)
        await pilot.press("k")
        await wait_for(pilot, lambda: scroll.scroll_y == 2)
