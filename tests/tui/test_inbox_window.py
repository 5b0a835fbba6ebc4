"""Where the cursor goes when its thread leaves the list, worked out from the rows alone."""

from __future__ import annotations

from datetime import UTC, datetime

from store.queries import InboxRow
from tui.inbox_window import successor

AT = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def row(thread_id: int, urgency: int) -> InboxRow:
    return InboxRow(
        thread_id=thread_id,
        network="x",
        brand="acme",
        status="new",
        assignee=None,
        urgency=urgency,
        tier="normal",
        customer="",
        handle="",
        followers=0,
        text="",
        sentiment=None,
        awaiting_since=AT,
        last_activity_at=AT,
        sla_due_at=None,
        mention_count=1,
    )


def test_the_cursor_goes_below_then_above_never_to_the_top():
    old = [row(1, 90), row(2, 80), row(3, 70), row(4, 60)]
    assert successor(old, 2, [old[0], old[2], old[3]]) == 3
    # Two gone at once (a bulk done): the next one still listed.
    assert successor(old, 2, [old[0], old[3]]) == 4
    # The last one gone: the one above it.
    assert successor(old, 4, old[:3]) == 3


def test_at_the_end_of_a_window_the_next_thread_is_the_one_read_in_its_place():
    """The list held rows 1-3 of a longer view; 3 is done, and the refresh reads row 4 into the window: the cursor
    goes down to it, not back up to 2."""
    old = [row(1, 90), row(2, 80), row(3, 70)]
    assert successor(old, 3, [old[0], old[1], row(4, 60)]) == 4
