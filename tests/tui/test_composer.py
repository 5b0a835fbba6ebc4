"""The reply box as a responder uses it, on the real app against the sandbox X: what reaches the customer is
what was meant (no unfilled blank, no surprise after a colleague answered), and nothing typed is ever lost."""

from __future__ import annotations

from desk_kit import wait_for
from sqlmodel import col, select
from textual.widgets import DataTable, Static, TextArea

from earful.app import make_desk
from store.models import Reply, Thread
from tui.customer import Confirm
from tui.inbox import MESSAGE, InboxScreen
from tui.thread import ThreadScreen

SIZE = (140, 40)


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def box(app) -> TextArea:
    return app.screen.query_one("#composer", TextArea)


def help_line(app) -> str:
    return str(app.screen.query_one("#composer-help", Static).render())


def thread_id_of(world, name: str) -> int:
    thread_id = thread_of(world, name).id
    assert thread_id is not None
    return thread_id


def thread_of(world, name: str) -> Thread:
    with world.store.read() as s:
        return s.exec(
            select(Thread).where(Thread.conversation_id == world.tweets[name].conversation_id)
        ).one()


def replies(world) -> list[Reply]:
    with world.store.read() as s:
        return list(s.exec(select(Reply).order_by(col(Reply.id))))


def colleague(world, name: str = "bob"):
    desk = world.settings.desk.model_copy(update={"responder": name})
    return make_desk(world.settings.model_copy(update={"desk": desk}), store=world.store)


async def open_thread(app, pilot) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen._rows)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)


def ann_wants_a_refund(world) -> None:
    world.store_tweet(
        "ann", "@AcmeSupport I want my money back", author="ann", display="Ann Smith", urgency=70, tier="high"
    )


async def test_a_saved_reply_with_a_blank_the_thread_cannot_fill_is_never_sent(world):
    """A saved reply once went out as "refund for order {order}". The blank stops the send in the box, says which
    to fill, and is selected so that typing fills it."""
    ann_wants_a_refund(world)
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("s", "4")  # "refund": ... I've started a refund for order {order}; ...
        await wait_for(pilot, lambda: box(app).text.startswith("Hi Ann,"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("Fill in {order}" in t for t in toasts(app)))
        await pilot.pause(0.3)
        assert world.sandbox.replies == [] and replies(world) == [], "nothing sent, nothing queued"
        assert box(app).selected_text == "{order}"

        await pilot.press(*"48213")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: world.sandbox.replies)
    (sent,) = world.sandbox.replies
    assert "refund for order 48213;" in sent.text and "{" not in sent.text


async def test_text_typed_after_a_saved_reply_lands_before_the_signature(world):
    ann_wants_a_refund(world)
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("s", "5")  # "thanks": Thanks so much, {name}! ... ^{agent}
        await wait_for(pilot, lambda: box(app).text.endswith("^alice"))
        await pilot.press(*" See you soon.")
        assert box(app).text.endswith("tell us. See you soon. ^alice")


async def test_the_counter_and_the_send_use_xs_weighted_length(world):
    """X counts CJK and emoji as 2 and a URL as 23: 150 CJK characters are 300 of X's 280."""
    ann_wants_a_refund(world)
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("r")
        box(app).insert("Thanks 👍 https://example.com/a/very/long/path/to/the/refund/policy")
        await wait_for(pilot, lambda: "33/280 on x" in help_line(app))
        box(app).text = "返金" * 75
        await wait_for(pilot, lambda: "300/280 on x" in help_line(app))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("300 weighted characters" in t for t in toasts(app)))
        await pilot.pause(0.3)
        assert world.sandbox.replies == [] and replies(world) == []
        assert box(app).text == "返金" * 75, "the text stays in the box to shorten"


async def test_a_reply_a_colleague_sent_since_the_box_opened_is_told_before_sending(world):
    ann_wants_a_refund(world)
    thread_id = thread_id_of(world, "ann")
    bob = colleague(world)
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("r", *"We are on it")
        bob.reply(thread_id, "Bob here: your refund is done")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        question = str(app.screen.query_one(Static).render())
        assert "bob replied since you opened the reply box" in question and "your refund is done" in question
        await pilot.press("n")  # read it first
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and not app.screen._reread)
        assert [r.text for r in world.sandbox.replies] == ["Bob here: your refund is done"]
        assert box(app).text == "We are on it", "nothing typed is lost"

        # Read now: only that bob holds the thread (he answered it) is left to say.
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        question = str(app.screen.query_one(Static).render())
        assert "replied" not in question and "bob holds this thread" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: len(world.sandbox.replies) == 2)


async def test_a_new_customer_message_and_a_colleagues_hold_are_asked_about_first(world):
    ann_wants_a_refund(world)
    thread_id = thread_id_of(world, "ann")
    colleague(world).claim(thread_id)
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("r", *"Refund sent")
        world.store_tweet(
            "ann2",
            "@AcmeSupport actually I found it, no refund needed",
            author="ann",
            display="Ann Smith",
            urgency=20,
            tier="low",
            in_reply_to=world.tweets["ann"].id,
            minutes=5,
        )
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        question = str(app.screen.query_one(Static).render())
        assert "@ann wrote again" in question and "no refund needed" in question
        assert "bob holds this thread" in question
        await pilot.press("y")  # the responder decides: send anyway
        await wait_for(pilot, lambda: world.sandbox.replies)
    assert world.sandbox.replies[0].in_reply_to_id == world.tweets["ann2"].id
    assert thread_of(world, "ann").assignee == "bob", "replying does not take a colleague's thread"


async def test_a_failed_reply_offers_retry_and_cancel(world):
    ann_wants_a_refund(world)
    world.desk.outbox.max_attempts = 1
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        world.sandbox.fail_next_calls("tweets", 503)
        await pilot.press("r", *"Sorry, on it", "ctrl+s")
        await wait_for(pilot, lambda: any("Not sent yet (failed)" in t for t in toasts(app)))
        await wait_for(
            pilot,
            lambda: any(
                "R retry · X cancel" in str(w.render()) for w in app.screen.query("#messages .reply")
            ),
        )
        assert box(app).text == "" and app.screen.check_action("retry_reply", ()) is True
        footer = {b.binding.description for b in app.screen.active_bindings.values()}
        assert {"Retry", "Cancel reply"} <= footer

        await pilot.press("R")  # the network is back
        await wait_for(pilot, lambda: world.sandbox.replies)
        await wait_for(pilot, lambda: replies(world)[0].status == "sent")

        world.sandbox.fail_next_calls("tweets", 503)
        await pilot.press("r", *"And a second thought", "ctrl+s")
        await wait_for(pilot, lambda: len(replies(world)) == 2 and replies(world)[1].status == "failed")
        await wait_for(pilot, lambda: app.screen.check_action("cancel_reply", ()) is True)
        await pilot.press("X")
        await wait_for(pilot, lambda: replies(world)[1].status == "cancelled")
        await wait_for(pilot, lambda: box(app).text == "And a second thought")
    assert [r.text for r in world.sandbox.replies] == ["Sorry, on it"]


async def test_a_draft_is_kept_through_escape_leaving_and_a_restart_until_discarded(world):
    """A 307-character reply vanished on escape. Drafts are in the store: saved as one types, back when the
    thread opens again (after a restart too), gone only when sent or discarded."""
    ann_wants_a_refund(world)
    thread_id = thread_id_of(world, "ann")
    draft = "Hi Ann, " + "we are looking into your refund right now. " * 7
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("r")
        box(app).insert(draft)
        # Saved while typing, before any key leaves the box.
        await wait_for(pilot, lambda: (d := world.desk.draft(thread_id)) is not None and d.text == draft)
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen))
        # The inbox marks the thread: a reply is waiting to be finished there.
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.get_row_at(0)[MESSAGE].plain.startswith("✎ draft "))

    restarted = make_desk(world.settings, store=world.store)
    from earful.app import make_tui

    app = make_tui(restarted, settings=world.settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await wait_for(pilot, lambda: box(app).text == draft)
        assert any("draft reply is back" in t for t in toasts(app))
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        assert "Discard your draft" in str(app.screen.query_one(Static).render())
        await pilot.press("y")
        await wait_for(pilot, lambda: restarted.draft(thread_id) is None)
        assert box(app).text == ""
    assert world.sandbox.replies == []


async def test_a_sent_reply_takes_its_draft_with_it(world):
    ann_wants_a_refund(world)
    thread_id = thread_id_of(world, "ann")
    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_thread(app, pilot)
        await pilot.press("r", *"On it, Ann")
        await wait_for(pilot, lambda: world.desk.draft(thread_id) is not None)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: world.sandbox.replies)
        await pilot.pause(1.2)  # past the draft save's delay
    assert world.desk.draft(thread_id) is None


async def test_note_mode_says_save_note_and_the_header_reads_cleanly_at_80_and_120_columns(world):
    ann_wants_a_refund(world)
    thread_id = thread_id_of(world, "ann")
    root = colleague(world, "root")
    root.claim(thread_id)
    root.set_status(thread_id, "pending")
    for size in ((80, 24), (120, 40)):
        await check_header_and_footer(world.app(), thread_id, size)


async def check_header_and_footer(app, thread_id: int, size: tuple[int, int]) -> None:
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen))
        app.open_thread(thread_id)  # pending: not in the inbox view
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        title = str(app.screen.query_one("#thread-title", Static).render())
        assert "pending · root" in " ".join(title.split()), (size, title)
        shown = {b.binding.description for b in app.screen.active_bindings.values() if b.enabled}
        assert "Send" in shown and "Save note" not in shown
        await pilot.press("n")
        shown = {b.binding.description for b in app.screen.active_bindings.values() if b.enabled}
        assert "Save note" in shown and "Send" not in shown
        assert "save note" in help_line(app)
