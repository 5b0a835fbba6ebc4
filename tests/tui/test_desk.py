"""The desk as a responder uses it: keys pressed on the real app, replies landing on the (sandbox) network."""

from __future__ import annotations

from desk_kit import wait_for
from sqlmodel import select
from textual.widgets import DataTable, Static

from store.models import Reply, Thread
from tui.inbox import MESSAGE, OWNER, InboxScreen
from tui.thread import ThreadScreen


def rows(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [table.get_row_at(i)[MESSAGE].plain for i in range(table.row_count)]


async def test_open_the_most_urgent_thread_and_send_a_saved_reply(world):
    world.store_tweet(
        "calm", "@AcmeSupport all sorted, thanks!", author="carl", display="Carl", urgency=10, tier="low"
    )
    world.store_tweet(
        "angry",
        "@AcmeSupport my order never arrived and nobody answers",
        author="ann",
        display="Ann Smith",
        urgency=92,
        tier="critical",
    )
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 2)
        assert rows(app)[0].startswith("@AcmeSupport my order never arrived")

        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        record = str(app.screen.query_one("#customer-record", Static).render())
        assert "Ann Smith" in record and "@ann" in record

        await pilot.press("s")  # saved replies
        await pilot.press("2")  # "need-details": Hi {name}, ... ^{agent}
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: world.sandbox.replies)

    reply = world.sandbox.replies[0]
    assert reply.in_reply_to_id == world.tweets["angry"].id
    assert reply.text.startswith("Hi Ann, sorry for the trouble.") and reply.text.endswith("^alice")
    with world.store.read() as s:
        stored = s.exec(select(Reply)).one()
        thread = s.get(Thread, stored.thread_id)
    assert (stored.status, stored.native_id) == ("sent", reply.id)
    # Answered: the thread now waits on the customer, and the one who answered holds it.
    assert (thread.status, thread.assignee) == ("pending", "alice")


async def test_text_from_the_internet_is_shown_literally(world):
    nasty = "[bold red]FREE[/] [link=https://evil.example]click[/link] \x1b[2J gone?"
    world.store_tweet("nasty", nasty, author="mallory", display="[blink]Mal[/blink]", urgency=50, tier="high")
    app = world.app()
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        shown = rows(app)[0]
        assert "[bold red]FREE[/] [link=https://evil.example]click[/link]" in shown
        assert "\x1b" not in shown and "␛[2J" in shown

        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        messages = [str(w.render()) for w in app.screen.query("#messages Static").results(Static)]
        assert any(
            "[bold red]FREE[/] [link=https://evil.example]click[/link] ␛[2J gone?" in m for m in messages
        )
        assert "[blink]Mal[/blink]" in str(app.screen.query_one("#customer-record", Static).render())


async def test_new_mentions_appear_live_without_moving_the_cursor(world):
    world.store_tweet("a", "@AcmeSupport first", author="a", display="A", urgency=40, tier="normal")
    world.store_tweet("b", "@AcmeSupport second", author="b", display="B", urgency=30, tier="normal")
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        await pilot.press("j")  # on "second"
        assert rows(app)[app.screen.query_one(DataTable).cursor_row] == "@AcmeSupport second"

        world.store_tweet("c", "@AcmeSupport urgent!!", author="c", display="C", urgency=95, tier="critical")
        await wait_for(pilot, lambda: len(rows(app)) == 3)
        assert rows(app)[0] == "@AcmeSupport urgent!!"
        assert rows(app)[app.screen.query_one(DataTable).cursor_row] == "@AcmeSupport second"


async def test_claim_and_resolve_from_the_inbox(world):
    world.store_tweet("a", "@AcmeSupport help", author="a", display="A", urgency=40, tier="normal")
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).get_row_at(0)[OWNER].plain == "alice")
        await pilot.press("d")
        await wait_for(pilot, lambda: len(rows(app)) == 0)  # resolved threads leave the inbox view
        await pilot.press("7")  # the resolved view
        await wait_for(pilot, lambda: len(rows(app)) == 1)
    with world.store.read() as s:
        thread = s.exec(select(Thread)).one()
    assert (thread.status, thread.assignee) == ("resolved", "alice")


async def test_the_thread_says_why_a_mention_is_urgent_in_its_own_words(world):
    world.store_tweet(
        "angry",
        "@AcmeSupport [bold red]x[/] my order never arrived, worst ever, my lawyer is on it",
        author="ann",
        display="Ann",
        urgency=88,
        tier="critical",
        explanation=("never arrived", "worst", "[bold red]x[/]"),
        risks=("legal", "churn"),
    )
    app = world.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        # The inbox's preview of the highlighted thread says it too.
        preview = str(app.screen.query_one("#preview", Static).render())
        assert 'why "never arrived" · "worst" · "[bold red]x[/]"  risk legal · churn' in preview

        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        [message] = [str(w.render()) for w in app.screen.query("#messages Static").results(Static)]
    lines = message.splitlines()
    # Under the scores line, above the text: the phrases as written, markup and all, never interpreted.
    assert lines[1] == 'why "never arrived" · "worst" · "[bold red]x[/]"  risk legal · churn'
    assert lines[2].startswith("@AcmeSupport [bold red]x[/] my order never arrived")


async def test_a_mention_nothing_pushed_up_shows_no_why(world):
    world.store_tweet("calm", "@AcmeSupport thanks!", author="carl", display="Carl", urgency=5, tier="low")
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        [message] = [str(w.render()) for w in app.screen.query("#messages Static").results(Static)]
    assert "why" not in message and "risk" not in message
    assert message.splitlines()[1] == "@AcmeSupport thanks!"
