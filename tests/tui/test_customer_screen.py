"""The customer screen as a responder uses it: keys on the real app, the record in a real SQLite store."""

from __future__ import annotations

from desk_kit import wait_for
from sqlmodel import select
from textual.widgets import DataTable, Static

from responders.customers import CustomerBook
from store.mentions import save_mentions
from store.models import Customer, CustomerMerge, Identity
from tui.customer import Confirm, CustomerScreen, EditText
from tui.inbox import InboxScreen
from tui.thread import ThreadScreen


def post(world, make_mention, native_id, *, author, display, network="x", minutes=0, text=None):
    item = make_mention(
        native_id,
        author=author,
        network=network,
        conversation=f"c-{native_id}",
        minutes=minutes,
        text=text or f"@acme message {native_id}",
    )
    item.mention.author.display_name = display
    with world.store.write() as s:
        save_mentions([item], session=s)


def customer_of(world, handle: str, network: str = "x") -> int:
    with world.store.read() as s:
        return (
            s.exec(select(Identity).where(Identity.handle == handle, Identity.network == network))
            .one()
            .customer_id
        )


def record(world, customer_id: int) -> Customer:
    with world.store.read() as s:
        return s.get(Customer, customer_id)


def cells(app, table_id: str) -> list[str]:
    table = app.screen.query_one(table_id, DataTable)
    return [" | ".join(cell.plain for cell in table.get_row_at(i)) for i in range(table.row_count)]


def shown(app, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


async def open_record(world, pilot, app, customer_id: int) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen))
    app.push_screen(CustomerScreen(customer_id))
    await wait_for(pilot, lambda: isinstance(app.screen, CustomerScreen) and app.screen.view is not None)


def desk(world):
    app = world.app()
    app.customers = CustomerBook(world.store, "alice")
    return app


async def test_identities_on_two_networks_and_every_earlier_thread(world, make_mention):
    post(world, make_mention, "1", author="jane", display="Jane Smith", text="@acme parcel lost\nsecond line")
    post(
        world, make_mention, "2", author="jane", display="Jane Smith", minutes=10, text="@acme refund please"
    )
    post(world, make_mention, "3", author="jane_m", display="Jane S", network="mastodon", minutes=20)
    jane = customer_of(world, "jane")
    CustomerBook(world.store, "alice").merge(jane, customer_of(world, "jane_m", "mastodon"))
    app = desk(world)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_record(world, pilot, app, jane)
        assert cells(app, "#identities") == [
            "mastodon | @jane_m | Jane S | 10",
            "x | @jane | Jane Smith | 10",
        ]
        threads = cells(app, "#threads")
        assert [row.split(" | ")[1] for row in threads] == ["mastodon", "x", "x"]
        assert threads[1].endswith("@acme refund please")
        # Only the first line of a message: the table stays one row per thread.
        assert threads[2].endswith("@acme parcel lost")
        assert "3 threads: 3 new\n" in shown(app, "#customer-stats")
        assert "Jane S " in shown(app, "#customer-merges")

        await pilot.press("j", "j", "k", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        assert app.screen.view.thread.conversation_id == "c-2"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerScreen))


async def test_merge_the_suggested_record_then_unmerge_it(world, make_mention):
    post(world, make_mention, "1", author="jane", display="Jane Smith")
    post(world, make_mention, "2", author="jsmith", display="jane  SMITH", network="mastodon", minutes=5)
    jane, other = customer_of(world, "jane"), customer_of(world, "jsmith", "mastodon")
    app = desk(world)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_record(world, pilot, app, jane)
        assert cells(app, "#suggestions") == ["jane SMITH (mastodon) | same name jane SMITH"]

        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        # Two records of one name: each is named with its accounts, so the responder sees which goes where.
        question = str(app.screen.query(Static).first().render())
        assert question.startswith("Merge jane SMITH (mastodon @jsmith)\ninto Jane Smith (x @jane)?")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(cells(app, "#identities")) == 2)
        assert len(cells(app, "#threads")) == 2 and cells(app, "#suggestions") == []
        assert record(world, other).merged_into_id == jane
        assert customer_of(world, "jsmith", "mastodon") == jane

        await pilot.press("U")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(cells(app, "#identities")) == 1)
        assert record(world, other).merged_into_id is None
        assert customer_of(world, "jsmith", "mastodon") == other
    with world.store.read() as s:
        assert s.exec(select(CustomerMerge)).one().undone_at is not None


async def test_a_merge_can_be_called_off(world, make_mention):
    post(world, make_mention, "1", author="jane", display="Jane Smith")
    post(world, make_mention, "2", author="jsmith", display="Jane Smith", network="bluesky")
    jane = customer_of(world, "jane")
    app = desk(world)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_record(world, pilot, app, jane)
        await pilot.press("M", "n")
        await pilot.pause(0.3)
        assert isinstance(app.screen, CustomerScreen) and len(cells(app, "#identities")) == 1
    assert customer_of(world, "jsmith", "bluesky") != jane


async def test_notes_tags_and_tier_are_edited_and_kept(world, make_mention):
    post(world, make_mention, "1", author="ann", display="Ann Lee")
    ann = customer_of(world, "ann")
    app = desk(world)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_record(world, pilot, app, ann)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditText))
        await pilot.press(*"calls", "space", *"twice", "enter", *"vip", "ctrl+s")
        await wait_for(pilot, lambda: record(world, ann).notes == "calls twice\nvip")
        await wait_for(pilot, lambda: "calls twice" in shown(app, "#customer-notes"))

        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, EditText))
        await pilot.press(*"Refund,", "space", *"late", "space", *"delivery", "enter")
        await wait_for(pilot, lambda: record(world, ann).tags == ["refund", "late-delivery"])

        await pilot.press("T", "2")  # standard, vip, watch
        await wait_for(pilot, lambda: record(world, ann).tier == "vip")
        await wait_for(pilot, lambda: "tier vip" in shown(app, "#customer-title"))

        # Escape leaves the notes as they were.
        await pilot.press("e", "x", "escape")
        await pilot.pause(0.3)
    assert record(world, ann).notes == "calls twice\nvip"


async def test_detach_an_identity_linked_by_mistake(world, make_mention):
    post(world, make_mention, "1", author="sam", display="Sam Hill")
    post(world, make_mention, "2", author="sam_other", display="Other Sam", network="reddit", minutes=5)
    sam, wrong = customer_of(world, "sam"), customer_of(world, "sam_other", "reddit")
    CustomerBook(world.store, "alice").merge(sam, wrong)
    app = desk(world)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_record(world, pilot, app, sam)
        # Reddit names people u/name, as Reddit itself does.
        assert cells(app, "#identities")[0].startswith("reddit | u/sam_other")
        await pilot.press("shift+tab", "j", "k", "x")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        assert str(app.screen.query(Static).first().render()).startswith("Detach reddit u/sam_other?")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(cells(app, "#identities")) == 1)
        assert cells(app, "#identities")[0].startswith("x | @sam")
        assert len(cells(app, "#threads")) == 1
    detached = customer_of(world, "sam_other", "reddit")
    assert detached not in (sam, wrong) and record(world, detached).display_name == "Other Sam"


async def test_hostile_names_notes_and_messages_are_shown_as_written(world, make_mention):
    post(
        world,
        make_mention,
        "1",
        author="mal",
        display="[blink]Mal[/blink] Ware",
        text="@acme [bold red]FREE[/] \x1b[2J gone?",
    )
    post(world, make_mention, "2", author="mal2", display="[blink]mal[/blink] ware", network="bluesky")
    mal = customer_of(world, "mal")
    with world.store.write() as s:
        customer = s.get(Customer, mal)
        customer.notes, customer.tags = "[link=https://evil.example]click[/link] \x1b]0;pwned\x07", ["[b]x"]
        s.add(customer)
    app = desk(world)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_record(world, pilot, app, mal)
        title, notes = shown(app, "#customer-title"), shown(app, "#customer-notes")
        assert "[blink]Mal[/blink] Ware" in title and "[b]x" in title
        assert "[link=https://evil.example]click[/link] ␛]0;pwned␇" in notes
        assert "@acme [bold red]FREE[/] ␛[2J gone?" in cells(app, "#threads")[0]
        assert cells(app, "#identities")[0] == "x | @mal | [blink]Mal[/blink] Ware | 10"
        assert cells(app, "#suggestions") == [
            "[blink]mal[/blink] ware (bluesky) | same name [blink]mal[/blink] ware"
        ]
        assert not any("\x1b" in text for text in (title, notes, *cells(app, "#threads")))
