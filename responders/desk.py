"""The desk: every action a responder takes, in one place the TUI calls. Each method is one unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from responders import reply_actions, triage
from responders.composing import Seen, address, changes_since, own_handles, seen_in
from responders.outbox import Outbox, queue_reply
from responders.templates import Filled, SavedReply, first_name
from responders.triage import BulkResult, clean_note
from store import Store
from store.clock import utcnow
from store.desk_actions import (
    ActivityBucket,
    activity,
    add_note,
    clean_name,
    saved_reply_uses,
    touch_presence,
)
from store.drafts import discard_draft, get_draft, save_draft
from store.models import Draft, Mention, Reply, Thread, ThreadNote
from store.queries import (
    InboxFilter,
    InboxKey,
    InboxRow,
    ThreadView,
    inbox,
    last_change,
    rows_before,
    thread_view,
    view_counts,
)
from store.reply_length import Length, reply_length

__all__ = ["VIEWS", "ActivityBucket", "BulkResult", "Desk", "Filled", "InboxFilter", "Length", "Seen"]

# The sidebar lists them in this order. A snoozed thread leaves every working view until it wakes.
VIEWS: dict[str, str] = {
    "inbox": "New and open threads awaiting an answer",
    "urgent": "Inbox threads of critical or high urgency",
    "unassigned": "Inbox threads nobody has claimed",
    "mine": "Threads I hold that are not resolved",
    "snoozed": "Threads put aside until a time or the customer's next message",
    "pending": "Answered; waiting for the customer",
    "resolved": "Done",
    "all": "Every thread",
}


@dataclass
class Desk:
    store: Store
    responder: str
    outbox: Outbox
    saved_replies: Sequence[SavedReply] = field(default_factory=list)
    # Where "now" comes from: views, snoozes and presence depend on it.
    clock: Callable[[], datetime] = utcnow
    # Who may take a colleague's thread back (`[desk] leads`); none named: each desk's own responder.
    leads: Sequence[str] = ()

    def __post_init__(self) -> None:
        # Stored on every claim, note and reply and shown on every colleague's desk: cleaned once, here, so each
        # lookup by it matches what was stored.
        self.responder = clean_name(self.responder)

    def inbox(
        self,
        view: str = "inbox",
        filters: InboxFilter | None = None,
        limit: int = 500,
        *,
        after: InboxKey | None = None,
        before: InboxKey | None = None,
        last: bool = False,
    ) -> list[InboxRow]:
        """One page of the view: the first `limit` threads, or those after or before a row, or the last ones."""
        with self.store.read() as session:
            return inbox(
                session=session,
                view=view,
                responder=self.responder,
                filters=filters,
                now=self.clock(),
                limit=limit,
                after=after,
                before=before,
                last=last,
            )

    def rows_before(self, key: InboxKey, view: str = "inbox", filters: InboxFilter | None = None) -> int:
        with self.store.read() as session:
            return rows_before(
                key, session=session, view=view, responder=self.responder, filters=filters, now=self.clock()
            )

    def counts(self, filters: InboxFilter | None = None) -> dict[str, int]:
        with self.store.read() as session:
            return view_counts(session=session, responder=self.responder, filters=filters, now=self.clock())

    def thread(self, thread_id: int) -> ThreadView | None:
        with self.store.read() as session:
            return thread_view(thread_id, session=session, responder=self.responder, now=self.clock())

    def last_change(self) -> datetime | None:
        with self.store.read() as session:
            return last_change(session=session, now=self.clock())

    def claim(self, thread_id: int) -> Thread:
        with self.store.write() as session:
            return triage.claim(thread_id, self.responder, session=session, now=self.clock())

    def release(self, thread_id: int) -> Thread:
        with self.store.write() as session:
            return triage.release(thread_id, self.responder, session=session, now=self.clock())

    def set_status(self, thread_id: int, status: str) -> Thread:
        with self.store.write() as session:
            return triage.set_status(
                thread_id, status, session=session, responder=self.responder, now=self.clock()
            )

    def assign(self, thread_ids: Sequence[int], to: str | None, *, take_back: bool = True) -> BulkResult:
        """Threads to `to` (None: nobody); a lead takes back a colleague's unless `take_back` is False."""
        with self.store.write() as session:
            return triage.assign(
                thread_ids,
                to,
                responder=self.responder,
                session=session,
                now=self.clock(),
                leads=self.leads,
                take_back=take_back,
            )

    def assignable(self) -> list[str]:
        """Who a thread can be assigned to (responders.triage.assignable)."""
        with self.store.read() as session:
            return triage.assignable(self.responder, self.leads, session=session)

    def move(self, thread_ids: Sequence[int], status: str) -> BulkResult:
        with self.store.write() as session:
            return triage.move(
                thread_ids, status, responder=self.responder, session=session, now=self.clock()
            )

    def tag(self, thread_ids: Sequence[int], tag: str) -> BulkResult:
        with self.store.write() as session:
            return triage.tag(thread_ids, tag, responder=self.responder, session=session, now=self.clock())

    def untag(self, thread_ids: Sequence[int], tag: str) -> BulkResult:
        with self.store.write() as session:
            return triage.untag(thread_ids, tag, responder=self.responder, session=session, now=self.clock())

    def snooze(
        self, thread_ids: Sequence[int], *, until: datetime | None = None, until_reply: bool = False
    ) -> BulkResult:
        with self.store.write() as session:
            return triage.snooze(
                thread_ids,
                responder=self.responder,
                session=session,
                until=until,
                until_reply=until_reply,
                now=self.clock(),
            )

    def wake(self, thread_ids: Sequence[int]) -> BulkResult:
        with self.store.write() as session:
            return triage.wake(thread_ids, responder=self.responder, session=session, now=self.clock())

    def undo(self) -> str | None:
        """Undo my latest action not yet undone: a sentence for the status bar, None if there is none."""
        with self.store.write() as session:
            return triage.undo(self.responder, session=session, now=self.clock())

    def viewing(self, thread_id: int | None) -> None:
        """Presence heartbeat: I have this thread open (None: no thread). Colleagues see it for PRESENCE_TTL."""
        with self.store.write() as session:
            touch_presence(self.responder, thread_id, session=session, now=self.clock())

    def add_note(self, thread_id: int, text: str) -> ThreadNote:
        cleaned = clean_note(text)
        with self.store.write() as session:
            return add_note(thread_id, self.responder, cleaned, session=session, now=self.clock())

    def saved_reply_uses(self) -> dict[str, int]:
        with self.store.read() as session:
            return saved_reply_uses(session=session)

    def activity(self, hours: int = 24) -> list[ActivityBucket]:
        with self.store.read() as session:
            return activity(session=session, now=self.clock(), hours=hours)

    def fill(self, saved: SavedReply, view: ThreadView) -> str:
        return saved.fill(self.variables(view))

    def filled(self, saved: SavedReply, view: ThreadView) -> Filled:
        """The saved reply filled from the thread, with where the responder types next."""
        return saved.filled(self.variables(view))

    def variables(self, view: ThreadView) -> dict[str, str]:
        """What a saved reply may use: a customer is never asked for what they already told us."""
        values = {"agent": self.responder, "brand": view.thread.brand}
        if view.customer is not None:
            values["name"] = first_name(view.customer.display_name)
            values["full_name"] = view.customer.display_name
        handles = [
            identity.handle for _, identity in view.messages if not identity.is_own and identity.handle
        ]
        if handles:
            values["handle"] = "@" + handles[-1]
        # The newest entity of each kind wins: it is the one the customer is talking about now.
        for mention, _ in view.messages:
            for entity in mention.entities if not mention.is_own else []:
                label = str(entity.get("label", "")).lower()
                if label in {"order", "email", "product"}:
                    values[label] = str(entity.get("text", ""))
        return values

    def reply(self, thread_id: int, text: str, *, template: str | None = None) -> Reply:
        """Queue the reply (my draft on the thread goes with it), then send it. A failure leaves it queued in the
        outbox with the reason."""
        with self.store.write() as session:
            reply = queue_reply(
                thread_id,
                text,
                responder=self.responder,
                session=session,
                template=template,
                address=lambda thread, target, text: self._address(thread, target, text, session),
            )
            discard_draft(thread_id, self.responder, session=session)
            # Whoever answers a thread holds it, unless a colleague already does.
            thread = session.get(Thread, thread_id)
            if thread is not None and thread.assignee is None:
                thread.assignee = self.responder
                session.add(thread)
        assert reply.id is not None
        sent = self.outbox.flush([reply.id])
        return sent[0] if sent else reply

    def _address(self, thread: Thread, target: Mention, text: str, session: Session) -> str:
        assert thread.id is not None
        own = [self.outbox.own_handle(thread), *own_handles(thread.id, session=session)]
        return address(thread.network, text, target, own)

    def outgoing(self, view: ThreadView, text: str) -> tuple[str, Length]:
        """The reply as it would be posted (addressed as the network needs) and its length as the network
        counts it: what the reply box shows while the responder types. No database call: from the view."""
        own = [self.outbox.own_handle(view.thread), *(i.handle for m, i in view.messages if m.is_own)]
        posted = address(view.thread.network, text.strip(), view.latest_inbound(), own)
        return posted, reply_length(view.thread.network, posted)

    def seen(self, view: ThreadView) -> Seen:
        return seen_in(view)

    def changes_since(self, seen: Seen) -> list[str]:
        """What arrived on the thread since `seen`, and whether a colleague holds it: asked before sending."""
        with self.store.read() as session:
            return changes_since(seen, self.responder, session=session)

    def retry_reply(self, reply_id: int) -> Reply:
        """Send a failed reply again (raises ReplyNotChangeable if it is not failed)."""
        with self.store.write() as session:
            reply = reply_actions.retry_reply(reply_id, session=session)
        sent = self.outbox.flush([reply_id])
        return sent[0] if sent else reply

    def cancel_reply(self, reply_id: int) -> Reply:
        """Take back a failed or untried reply: it is never sent."""
        with self.store.write() as session:
            return reply_actions.cancel_reply(reply_id, session=session)

    def draft(self, thread_id: int) -> Draft | None:
        with self.store.read() as session:
            return get_draft(thread_id, self.responder, session=session)

    def save_draft(
        self, thread_id: int, text: str, *, mode: str = "reply", template: str | None = None
    ) -> None:
        """Keep what I typed on the thread (empty: no draft)."""
        with self.store.write() as session:
            save_draft(
                thread_id,
                self.responder,
                text,
                mode=mode,
                template=template,
                session=session,
                now=self.clock(),
            )

    def discard_draft(self, thread_id: int) -> bool:
        with self.store.write() as session:
            return discard_draft(thread_id, self.responder, session=session)
