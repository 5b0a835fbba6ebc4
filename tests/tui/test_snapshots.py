"""What the three screens look like at 120x40 (the inbox at 80x24 and 160x50 too), pinned as SVG snapshots
(pytest-textual-snapshot).

The desk reads "now" from its clock, so the clock is fixed here and every "ago", SLA and sparkline is the same on
every run. After an intended change of look: `make test PYTEST_ARGS=--snapshot-update`, then review the SVGs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from desk_kit import wait_for
from sqlalchemy import update
from sqlmodel import select

from store.models import Customer, Thread
from tui.customer import CustomerScreen
from tui.inbox import InboxScreen
from tui.thread import ThreadScreen

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # an hour after the fixture's first mention
SIZE = (120, 40)


@pytest.fixture
def desk_world(world):
    world.desk.clock = lambda: NOW
    world.store_tweet(
        "fire",
        "@AcmeSupport my charger caught fire last night, this is dangerous and I want a refund",
        author="ann",
        display="Ann Smith",
        urgency=96,
        tier="critical",
        explanation=("caught fire", "dangerous"),
        risks=("safety",),
        minutes=50,
        followers=12_400,
    )
    world.store_tweet(
        "late",
        "@AcmeSupport order #48213 is a week late, [b]again[/b]",
        author="bea",
        display="Bea",
        urgency=61,
        tier="high",
        minutes=20,
    )
    world.store_tweet(
        "thanks",
        "@AcmeSupport thanks for sorting it out so fast!",
        author="cy",
        display="Cy",
        urgency=8,
        tier="low",
        minutes=5,
        sentiment="positive",
        complaint=0.05,
    )
    world.store_tweet(
        "fire2",
        "@AcmeSupport still waiting, nobody has called me back",
        author="ann",
        display="Ann Smith",
        urgency=97,
        tier="critical",
        minutes=58,
        in_reply_to=world.tweets["fire"].id,
    )
    # Record creation dates are stamped at insert; pin them like the clock.
    with world.store.write() as s:
        s.execute(update(Customer).values(created_at=datetime(2026, 3, 2, tzinfo=UTC)))
    return world


def _fire(world) -> Thread:
    with world.store.read() as s:
        return s.exec(
            select(Thread).where(Thread.conversation_id == world.tweets["fire"].conversation_id)
        ).one()


@pytest.mark.parametrize("size", [(80, 24), SIZE, (160, 50)], ids=["80x24", "120x40", "160x50"])
def test_inbox(snap_compare, desk_world, size):
    """The smallest terminal the desk supports, the usual one, and a wide one: the layout holds at each."""
    app = desk_world.app()

    async def ready(pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(app.screen._rows) == 3)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=ready)


def test_thread(snap_compare, desk_world):
    app = desk_world.app()
    thread_id = _fire(desk_world).id

    async def ready(pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(app.screen._rows) == 3)
        app.open_thread(thread_id)
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen.view is not None)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_customer(snap_compare, desk_world):
    app = desk_world.app()
    customer_id = _fire(desk_world).customer_id

    async def ready(pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(app.screen._rows) == 3)
        app.open_customer(customer_id)
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerScreen) and app.screen.view is not None)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
