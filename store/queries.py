"""What the desk reads: the inbox, one thread with its customer, and a cheap "has anything changed" check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, false, func, nulls_last
from sqlmodel import Session, col, select

from store.models import Customer, Identity, Mention, Reply, Thread, ThreadStatus

AWAITING = (ThreadStatus.NEW, ThreadStatus.OPEN)


@dataclass(frozen=True)
class InboxRow:
    thread_id: int
    network: str
    brand: str
    status: str
    assignee: str | None
    urgency: int
    tier: str
    customer: str
    handle: str
    followers: int
    text: str
    sentiment: str | None
    awaiting_since: datetime | None
    last_activity_at: datetime
    sla_due_at: datetime | None
    mention_count: int
    # Why the latest inbound message is urgent: the words that pushed it up, and the risk categories matched.
    explanation: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)


def inbox(*, session: Session, statuses: Sequence[str] = AWAITING, limit: int = 500) -> list[InboxRow]:
    """Threads in the given statuses, most urgent first, then the nearest SLA, then the longest waiting."""
    latest = (
        select(func.max(Mention.id))
        .where(Mention.thread_id == Thread.id, Mention.is_own == false())
        .correlate(Thread)
        .scalar_subquery()
    )
    query = (
        select(Thread, Customer, Mention, Identity)
        .join(Customer, col(Thread.customer_id) == col(Customer.id), isouter=True)
        .join(Mention, col(Mention.id) == latest, isouter=True)
        .join(Identity, col(Identity.id) == col(Mention.identity_id), isouter=True)
        .where(col(Thread.status).in_(list(statuses)))
        .order_by(
            col(Thread.urgency).desc(),
            nulls_last(col(Thread.sla_due_at).asc()),
            nulls_last(col(Thread.awaiting_since).asc()),
            col(Thread.id),
        )
        .limit(limit)
    )
    rows = []
    for thread, customer, mention, identity in session.exec(query):
        assert thread.id is not None
        rows.append(
            InboxRow(
                thread_id=thread.id,
                network=thread.network,
                brand=thread.brand,
                status=thread.status,
                assignee=thread.assignee,
                urgency=thread.urgency,
                tier=thread.tier,
                customer=customer.display_name if customer else "",
                handle=identity.handle if identity else "",
                followers=identity.followers if identity else 0,
                text=mention.text if mention else "",
                sentiment=mention.sentiment if mention else None,
                awaiting_since=thread.awaiting_since,
                last_activity_at=thread.last_activity_at,
                sla_due_at=thread.sla_due_at,
                mention_count=thread.mention_count,
                explanation=list(mention.explanation) if mention else [],
                risks=list(mention.risks) if mention else [],
            )
        )
    return rows


def status_counts(*, session: Session) -> dict[str, int]:
    rows = session.exec(select(Thread.status, func.count()).group_by(Thread.status))
    return {status: n for status, n in rows}


@dataclass
class ThreadView:
    thread: Thread
    customer: Customer | None
    # The whole conversation, oldest first, each with who wrote it.
    messages: list[tuple[Mention, Identity]]
    replies: list[Reply]
    identities: list[Identity] = field(default_factory=list)
    earlier_threads: list[Thread] = field(default_factory=list)

    def latest_inbound(self) -> Mention | None:
        inbound = [m for m, _ in self.messages if not m.is_own]
        return inbound[-1] if inbound else None


def thread_view(thread_id: int, *, session: Session) -> ThreadView | None:
    thread = session.get(Thread, thread_id)
    if thread is None:
        return None
    messages = list(
        session.exec(
            select(Mention, Identity)
            .join(Identity, col(Identity.id) == col(Mention.identity_id))
            .where(Mention.thread_id == thread_id)
            .order_by(col(Mention.created_at), col(Mention.id))
        )
    )
    replies = list(
        session.exec(select(Reply).where(Reply.thread_id == thread_id).order_by(col(Reply.created_at)))
    )
    customer = session.get(Customer, thread.customer_id) if thread.customer_id else None
    identities: list[Identity] = []
    earlier: list[Thread] = []
    if customer is not None:
        identities = list(session.exec(select(Identity).where(Identity.customer_id == customer.id)))
        earlier = list(
            session.exec(
                select(Thread)
                .where(and_(col(Thread.customer_id) == customer.id, col(Thread.id) != thread_id))
                .order_by(col(Thread.last_activity_at).desc())
                .limit(50)
            )
        )
    return ThreadView(thread, customer, messages, replies, identities, earlier)


def last_change(*, session: Session) -> datetime | None:
    """The newest change to any thread: the desk refreshes only when this moves."""
    return session.exec(select(func.max(Thread.updated_at))).one()
