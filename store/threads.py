"""How a thread's state follows its conversation. One place, used by ingestion and by the responders."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from store.clock import utcnow
from store.models import Thread, ThreadStatus

TIER_ORDER = {"low": 0, "normal": 1, "high": 2, "critical": 3}


def apply_inbound(
    thread: Thread,
    *,
    at: datetime,
    urgency: int,
    tier: str,
    sla: Mapping[str, timedelta],
) -> None:
    """A customer wrote. The thread needs an answer again, and its urgency is that of what is unanswered."""
    if thread.awaiting_since is None:
        # The conversation picks up where it stopped: the earlier exchange was handled, judge this one afresh.
        thread.awaiting_since = at
        thread.urgency, thread.tier = urgency, tier
    elif urgency > thread.urgency:
        thread.urgency, thread.tier = urgency, tier
    if thread.first_inbound_at is None:
        thread.status = ThreadStatus.NEW  # first contact, even under a post of the brand's own
    elif thread.status in (ThreadStatus.PENDING, ThreadStatus.RESOLVED):
        thread.status = ThreadStatus.OPEN
    # Any snooze ends when the customer writes again: what they say now may not wait for the alarm.
    thread.snoozed_until, thread.snooze_until_reply = None, False
    budget = sla.get(thread.tier)
    thread.sla_due_at = thread.awaiting_since + budget if budget is not None else None
    thread.last_inbound_at = max(thread.last_inbound_at or at, at)
    thread.first_inbound_at = min(thread.first_inbound_at or at, at)
    _touch(thread, at)


def apply_outbound(thread: Thread, *, at: datetime) -> None:
    """The brand answered (from earful or from any other tool): nothing is awaited until the customer writes."""
    if thread.awaiting_since is not None and at >= thread.awaiting_since:
        thread.awaiting_since = None
        thread.sla_due_at = None
        if thread.first_response_at is None:
            thread.first_response_at = at
        if thread.status in (ThreadStatus.NEW, ThreadStatus.OPEN):
            thread.status = ThreadStatus.PENDING
    _touch(thread, at)


def _touch(thread: Thread, at: datetime) -> None:
    thread.first_activity_at = min(thread.first_activity_at, at)
    thread.last_activity_at = max(thread.last_activity_at, at)
    thread.updated_at = utcnow()
