"""Working down the inbox: after a thread is done or snoozed the cursor goes to the next one (never back to the
top, where the next `d` would resolve another thread), the cursor and the marks stay on their threads while the
list changes under them, and a thread goes only to someone who works on this desk, a lead taking it back."""

from __future__ import annotations

from desk_kit import wait_for
from sqlmodel import select
from textual.widgets import DataTable, OptionList

from earful.app import make_desk, make_tui
from store.mentions import save_mentions
from store.models import Thread
from tui.inbox import MESSAGE, SELECTED, InboxScreen
from tui.pickers import AssignPicker


def rows(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [table.get_row_at(i)[MESSAGE].plain.removeprefix("@AcmeSupport ") for i in range(table.row_count)]


def under_cursor(app) -> str:
    table = app.screen.query_one(DataTable)
    return rows(app)[table.cursor_row]


def marked(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [rows(app)[i] for i in range(table.row_count) if table.get_row_at(i)[SELECTED].plain == "●"]


def listed(app, n: int):
    return lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == n


def statuses(world) -> dict[str, str]:
    with world.store.read() as s:
        found = {t.conversation_id: t for t in s.exec(select(Thread))}
    return {name: found[tweet.conversation_id].status for name, tweet in world.tweets.items()}


def thread_id(world, name: str) -> int:
    with world.store.read() as s:
        return (
            s.exec(select(Thread).where(Thread.conversation_id == world.tweets[name].conversation_id))
            .one()
            .id
        )


def four_threads(world) -> None:
    for name, urgency in (("first", 90), ("second", 70), ("third", 50), ("fourth", 30)):
        world.store_tweet(
            name, f"@AcmeSupport {name}", author=name, display=name.title(), urgency=urgency, tier="normal"
        )


def desk_of(world, responder: str, **desk):
    settings = world.settings.model_copy(
        update={"desk": world.settings.desk.model_copy(update={"responder": responder, **desk})}
    )
    return settings, make_desk(settings, store=world.store)


async def test_done_and_snooze_move_the_cursor_to_the_next_thread_never_back_to_the_top(world):
    four_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, listed(app, 4))
        await pilot.press("j")  # second
        await pilot.press("d")
        await wait_for(pilot, listed(app, 3))
        assert under_cursor(app) == "third"  # the one below, where the first row is now "first"
        await pilot.press("z", "1")  # until they write again
        await wait_for(pilot, listed(app, 2))
        assert under_cursor(app) == "fourth"
        await pilot.press("d")  # the last one: the cursor goes to the one above
        await wait_for(pilot, listed(app, 1))
        assert under_cursor(app) == "first"
    assert statuses(world) == {"first": "new", "second": "resolved", "third": "new", "fourth": "resolved"}


async def test_the_cursor_and_the_marks_stay_on_their_threads_while_the_list_changes(world, make_mention):
    four_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, listed(app, 4))
        await pilot.press("j", "space", "space")  # marks second and third; the cursor on fourth
        await pilot.press("k")  # cursor on third
        assert marked(app) == ["second", "third"] and under_cursor(app) == "third"
        # Two threads arrive above: the rows shift, the cursor and the marks do not change thread.
        for name, urgency in (("urgent", 99), ("louder", 95)):
            world.store_tweet(
                name, f"@AcmeSupport {name}", author=name, display=name, urgency=urgency, tier="critical"
            )
        await wait_for(pilot, listed(app, 6))
        assert under_cursor(app) == "third" and marked(app) == ["second", "third"]
        # A colleague resolves the thread under my cursor: the cursor goes to the next one, not the top, and
        # the mark of a thread no longer listed goes with it (an action never reaches what is not shown).
        _, bob = desk_of(world, "bob")
        bob.move([thread_id(world, "third")], "resolved")
        await wait_for(pilot, listed(app, 5))
        assert under_cursor(app) == "fourth" and marked(app) == ["second"]
        assert app.screen.selected == {thread_id(world, "second")}


async def test_a_thread_goes_only_to_a_name_seen_on_the_desk_and_a_lead_takes_it_back(world):
    four_threads(world)
    world.settings.desk.leads = ["carol"]
    _, bob = desk_of(world, "bob")
    bob.claim(thread_id(world, "first"))
    # A name typed at the old prompt, which nobody has: the thread refused every action of everyone.
    with world.store.write() as s:
        s.get(Thread, thread_id(world, "second")).assignee = "sam"
    settings, alice = desk_of(world, "alice")
    app = make_tui(alice, settings=settings)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await wait_for(pilot, listed(app, 4))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AssignPicker))
        offered = [str(o.prompt).split()[1] for o in app.screen.query_one(OptionList)._options]
        # Me first, then who worked on this desk and the leads; "sam" is nobody, so he is not offered.
        assert offered == ["alice", "bob", "carol", "nobody"]
        await pilot.press("1")  # me: but bob holds it, and alice is no lead
        await wait_for(pilot, lambda: any("held by bob" in n.message for n in app._notifications))
        said = next(n.message for n in app._notifications if "held by bob" in n.message)
        assert "a lead (carol) can take it back" in said
    with world.store.read() as s:
        assert s.get(Thread, thread_id(world, "first")).assignee == "bob"

    settings, carol = desk_of(world, "carol")
    app = make_tui(carol, settings=settings)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await wait_for(pilot, listed(app, 4))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AssignPicker))
        await pilot.press("1")  # a lead takes bob's thread
        await wait_for(pilot, lambda: any("taken back from bob" in n.message for n in app._notifications))
        await pilot.press("j", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, AssignPicker))
        await pilot.press("minus")  # and frees the one "sam" held for good
        await wait_for(pilot, lambda: any("taken back from sam" in n.message for n in app._notifications))
    with world.store.read() as s:
        assert s.get(Thread, thread_id(world, "first")).assignee == "carol"
        assert s.get(Thread, thread_id(world, "second")).assignee is None


async def test_many_threads_arriving_above_never_push_the_cursor_off_its_thread(
    world, make_mention, monkeypatch
):
    monkeypatch.setattr("tui.inbox_window.PAGE", 10)
    monkeypatch.setattr("tui.inbox_window.NEAR", 2)
    four_threads(world)
    app = world.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, listed(app, 4))
        await pilot.press("j", "j")  # third
        with world.store.write() as s:
            burst = [
                make_mention(f"b{i}", conversation=f"b{i}", author=f"b{i}", urgency=99, tier="critical")
                for i in range(12)
            ]
            save_mentions(burst, session=s)
        await wait_for(pilot, lambda: len(rows(app)) > 4 and "my order never arrived" in rows(app)[0])
        assert under_cursor(app) == "third"
