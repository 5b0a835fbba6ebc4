"""The desk: every action a responder takes, in one place the TUI calls. Each method is one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from responders.outbox import Outbox, queue_reply
from responders.templates import SavedReply, first_name
from responders.triage import claim, release, set_status
from store import Store
from store.models import Reply, Thread
from store.queries import AWAITING, InboxRow, ThreadView, inbox, last_change, status_counts, thread_view

VIEWS: dict[str, tuple[str, ...]] = {
    "awaiting": AWAITING,
    "pending": ("pending",),
    "resolved": ("resolved",),
    "all": ("new", "open", "pending", "resolved"),
}


@dataclass
class Desk:
    store: Store
    responder: str
    outbox: Outbox
    saved_replies: Sequence[SavedReply] = field(default_factory=list)

    def inbox(self, view: str = "awaiting", limit: int = 500) -> list[InboxRow]:
        with self.store.read() as session:
            return inbox(session=session, statuses=VIEWS[view], limit=limit)

    def counts(self) -> dict[str, int]:
        with self.store.read() as session:
            by_status = status_counts(session=session)
        return {name: sum(by_status.get(s, 0) for s in statuses) for name, statuses in VIEWS.items()}

    def thread(self, thread_id: int) -> ThreadView | None:
        with self.store.read() as session:
            return thread_view(thread_id, session=session)

    def last_change(self) -> datetime | None:
        with self.store.read() as session:
            return last_change(session=session)

    def claim(self, thread_id: int) -> Thread:
        with self.store.write() as session:
            return claim(thread_id, self.responder, session=session)

    def release(self, thread_id: int) -> Thread:
        with self.store.write() as session:
            return release(thread_id, self.responder, session=session)

    def set_status(self, thread_id: int, status: str) -> Thread:
        with self.store.write() as session:
            return set_status(thread_id, status, session=session)

    def fill(self, saved: SavedReply, view: ThreadView) -> str:
        return saved.fill(self.variables(view))

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
        """Queue the reply, then send it. A failure leaves it queued in the outbox with the reason."""
        with self.store.write() as session:
            reply = queue_reply(thread_id, text, responder=self.responder, session=session, template=template)
            # Whoever answers a thread holds it, unless a colleague already does.
            thread = session.get(Thread, thread_id)
            if thread is not None and thread.assignee is None:
                thread.assignee = self.responder
                session.add(thread)
        assert reply.id is not None
        sent = self.outbox.flush([reply.id])
        return sent[0] if sent else reply
