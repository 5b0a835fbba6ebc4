"""Any number of threads on the desk: the list reads the next page as the cursor nears its end (and the one
before, coming back up), `G` reaches the view's true last thread, the counts stay those of the whole view; and
the `/` filter speaks the brand terms' language, an error emptying the list instead of leaving it under the new
text."""

from __future__ import annotations

import pytest
from desk_kit import wait_for
from textual.widgets import DataTable, Input, Static

from store.mentions import save_mentions
from tui.inbox import MESSAGE, InboxScreen

THREADS = 57


def rows(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [table.get_row_at(i)[MESSAGE].plain for i in range(table.row_count)]


def under_cursor(app) -> str:
    return rows(app)[app.screen.query_one(DataTable).cursor_row]


def title(app) -> str:
    return str(app.screen.query_one("#title", Static).render())


@pytest.fixture
def many(world, make_mention, monkeypatch):
    """57 threads, each more urgent than the next, on pages of 10 (the list keeps at most 25 rows)."""
    monkeypatch.setattr("tui.inbox_window.PAGE", 10)
    monkeypatch.setattr("tui.inbox_window.NEAR", 3)
    monkeypatch.setattr("tui.inbox_window.MAX_ROWS", 25)
    items = [
        make_mention(f"m{i}", conversation=f"c{i}", author=f"a{i}", text=f"thread {i:02}", urgency=99 - i)
        for i in range(THREADS)
    ]
    with world.store.write() as s:
        save_mentions(items, session=s)
    return [f"thread {i:02}" for i in range(THREADS)]


async def step(pilot, app, key: str, expected: str) -> None:
    """One key, once the row it moves to is in the list (a page may still be on its way)."""
    table = app.screen.query_one(DataTable)
    edge = (lambda: table.cursor_row < table.row_count - 1) if key == "j" else (lambda: table.cursor_row > 0)
    await wait_for(pilot, edge)
    await pilot.press(key)
    assert under_cursor(app) == expected


async def test_j_walks_every_thread_in_order_across_pages_and_k_walks_back(world, many):
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 10)
        assert title(app).endswith(f"inbox: 1 of {THREADS} threads")
        # The counts are the whole view's, not the rows read so far.
        views = str(app.screen.query_one("#views", Static).render()).splitlines()
        assert views[0].split() == ["1", "inbox", str(THREADS)]
        for expected in many[1:]:
            await step(pilot, app, "j", expected)
        assert title(app).endswith(f"inbox: {THREADS} of {THREADS} threads")
        # The list let go of its top on the way down; coming back up reads it again, page by page.
        assert len(rows(app)) <= 25
        for expected in reversed(many[:-1]):
            await step(pilot, app, "k", expected)
        assert title(app).endswith(f"inbox: 1 of {THREADS} threads")


async def test_G_goes_to_the_true_last_thread_and_g_back_to_the_first(world, many):
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 10)
        await pilot.press("G")
        await wait_for(pilot, lambda: under_cursor(app) == many[-1])
        assert title(app).endswith(f"inbox: {THREADS} of {THREADS} threads")
        await step(pilot, app, "k", many[-2])
        await pilot.press("g")
        await wait_for(pilot, lambda: under_cursor(app) == many[0])
        # Done on the last thread: the cursor goes to the one above it, still at the end of the view.
        await pilot.press("G")
        await wait_for(pilot, lambda: under_cursor(app) == many[-1])
        await pilot.press("d")
        await wait_for(
            pilot, lambda: under_cursor(app) == many[-2] and f"of {THREADS - 1} threads" in title(app)
        )


async def submit(app, pilot, query: str) -> None:
    await pilot.press("slash")
    app.screen.query_one("#filter", Input).value = query
    await pilot.press("enter")


async def test_the_filter_reads_or_not_phrases_and_finds_a_customer_by_name(world):
    for name, text, author, display, urgency in (
        ("fire", "the charger caught fire", "ann", "Ann Lee", 95),
        ("late", "parcel late again", "bea", "Bea Moreau", 50),
        ("thanks", "merci beaucoup", "cy", "Cy", 5),
    ):
        world.store_tweet(
            name, f"@AcmeSupport {text}", author=author, display=display, urgency=urgency, tier="low"
        )
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 3)

        async def shows(query: str, expected: list[str]) -> None:
            await submit(app, pilot, query)
            await wait_for(pilot, lambda: [r.removeprefix("@AcmeSupport ") for r in rows(app)] == expected)

        await shows("fire OR parcel", ["the charger caught fire", "parcel late again"])
        await shows("-parcel", ["the charger caught fire", "merci beaucoup"])
        await shows('NOT ("caught fire" OR merci)', ["parcel late again"])
        await shows("moreau", ["parcel late again"])  # her name, not her words
        await shows("@cy", ["merci beaucoup"])

        await submit(app, pilot, "tier:bogus")
        error = app.screen.query_one("#filter-error", Static)
        await wait_for(
            pilot, lambda: "tier:bogus is not one of low, normal, high, critical" in str(error.render())
        )
        # The box says tier:bogus: the list does not go on showing @cy's thread under it.
        await wait_for(pilot, lambda: rows(app) == [])
        assert "filter not applied" in title(app)
        await pilot.pause(0.3)  # refresh beats come and go: still nothing under a filter with an error
        assert rows(app) == []
        await shows("", ["the charger caught fire", "parcel late again", "merci beaucoup"])
