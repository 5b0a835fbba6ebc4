"""What the desk reads: the inbox views and their counts, one thread with its customer, and a cheap "has anything
changed" check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    or_,
    true,
)
from sqlmodel import Session, col, select

from store.clock import utcnow
from store.drafts import drafted
from store.inbox_filter import InboxFilter
from store.inbox_pages import InboxKey, beyond, page_ids
from store.inbox_search import filter_conditions, latest_inbound_id
from store.models import Customer, Identity, Mention, Presence, Reply, Thread, ThreadNote, ThreadStatus

AWAITING = (ThreadStatus.NEW, ThreadStatus.OPEN)
# A desk heartbeats its presence; a row older than this belongs to a desk that closed or lost its connection.
PRESENCE_TTL = timedelta(seconds=30)
VIEW_NAMES = ("inbox", "urgent", "unassigned", "mine", "snoozed", "pending", "resolved", "all")
# Earlier names, so scripts written against them keep working.
VIEW_ALIASES = {"awaiting": "inbox"}


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
    tags: list[str] = field(default_factory=list)
    snoozed_until: datetime | None = None
    snooze_until_reply: bool = False
    language: str | None = None
    # Colleagues (never me) with this thread open right now.
    viewers: list[str] = field(default_factory=list)
    # I have an unsent draft on it (store.drafts).
    draft: bool = False

    @property
    def key(self) -> InboxKey:
        """Where the row sits in its view: the next page starts after it."""
        return InboxKey(self.urgency, self.sla_due_at, self.awaiting_since, self.thread_id)


_THREAD_COLUMNS = tuple(
    "network brand status assignee urgency tier awaiting_since last_activity_at sla_due_at mention_count "
    "snoozed_until snooze_until_reply".split()
)


def view_conditions(*, responder: str, now: datetime) -> dict[str, ColumnElement[bool]]:
    """Each view as a condition on Thread. Snoozed threads leave the working views until they wake."""
    snoozed = or_(col(Thread.snooze_until_reply) == true(), col(Thread.snoozed_until) > now)
    awake = and_(
        col(Thread.snooze_until_reply) == false(),
        or_(col(Thread.snoozed_until).is_(None), col(Thread.snoozed_until) <= now),
    )
    resolved = col(Thread.status) == ThreadStatus.RESOLVED
    inbox = and_(col(Thread.status).in_(list(AWAITING)), awake)
    return {
        "inbox": inbox,
        "urgent": and_(inbox, col(Thread.tier).in_(["critical", "high"])),
        "unassigned": and_(inbox, col(Thread.assignee).is_(None)),
        "mine": and_(col(Thread.assignee) == responder, ~resolved, awake),
        "snoozed": and_(snoozed, ~resolved),
        "pending": and_(col(Thread.status) == ThreadStatus.PENDING, awake),
        "resolved": resolved,
        "all": true(),
    }


def inbox(
    *,
    session: Session,
    view: str = "inbox",
    responder: str = "",
    filters: InboxFilter | None = None,
    now: datetime | None = None,
    limit: int = 500,
    after: InboxKey | None = None,
    before: InboxKey | None = None,
    last: bool = False,
) -> list[InboxRow]:
    """One page of a view, most urgent first, then the nearest SLA, then the longest waiting (store.inbox_pages):
    the first `limit` threads, or those after the row `after`, before the row `before`, or the `last` ones."""
    now, filters = now or utcnow(), filters or InboxFilter()
    view = VIEW_ALIASES.get(view, view)
    conditions = [_view(view, responder=responder, now=now), *filter_conditions(filters, session=session)]
    # The page of ids first, from Thread alone, then the rest for that page only: joining every thread's latest
    # message before the sort would cost a lookup per thread.
    page = page_ids(
        conditions,
        view=view,
        limit=limit,
        filtered=bool(filters),
        after=after,
        before=before,
        last=last,
        session=session,
    )
    if not page:
        return []
    # Only the columns a row shows: a message's raw payload and entities can be kilobytes each.
    columns = [
        col(Thread.id).label("thread_id"),
        *(getattr(Thread, name) for name in _THREAD_COLUMNS),
        col(Thread.tags),
        col(Customer.display_name).label("customer"),
        col(Identity.handle),
        col(Identity.followers),
        *(getattr(Mention, name) for name in ("text", "sentiment", "explanation", "risks", "language")),
    ]
    query = (
        select(*columns)
        .join(Customer, col(Thread.customer_id) == col(Customer.id), isouter=True)
        .join(Mention, col(Mention.id) == latest_inbound_id(), isouter=True)
        .join(Identity, col(Identity.id) == col(Mention.identity_id), isouter=True)
        .where(col(Thread.id).in_(page))
    )
    found = {row.thread_id: row._mapping for row in session.execute(query)}
    watching = viewers(page, responder=responder, session=session, now=now)
    mine = drafted(page, responder, session=session)
    rows = []
    for thread_id in page:
        row = found[thread_id]
        rows.append(
            InboxRow(
                **{name: row[name] for name in ("thread_id", *_THREAD_COLUMNS, "sentiment", "language")},
                customer=row["customer"] or "",
                handle=row["handle"] or "",
                followers=row["followers"] or 0,
                text=row["text"] or "",
                explanation=list(row["explanation"] or []),
                risks=list(row["risks"] or []),
                tags=list(row["tags"] or []),
                viewers=watching.get(thread_id, []),
                draft=thread_id in mine,
            )
        )
    return rows


def _view(view: str, *, responder: str, now: datetime) -> ColumnElement[bool]:
    conditions = view_conditions(responder=responder, now=now)
    if view not in conditions:
        raise ValueError(f"unknown view {view!r}; the views are {', '.join(VIEW_NAMES)}")
    return conditions[view]


def rows_before(
    key: InboxKey,
    *,
    session: Session,
    view: str = "inbox",
    responder: str = "",
    filters: InboxFilter | None = None,
    now: datetime | None = None,
) -> int:
    """How many threads of the view come before the row `key`: where a page that starts there stands."""
    view = VIEW_ALIASES.get(view, view)
    conditions = [
        _view(view, responder=responder, now=now or utcnow()),
        *filter_conditions(filters or InboxFilter(), session=session),
        beyond(key, backwards=True),
    ]
    return int(session.exec(select(func.count()).select_from(Thread).where(*conditions)).one())


def view_counts(
    *, session: Session, responder: str = "", filters: InboxFilter | None = None, now: datetime | None = None
) -> dict[str, int]:
    """How many threads each view holds, filters applied: one pass over the threads, a sum per view."""
    conditions = view_conditions(responder=responder, now=now or utcnow())
    sums = [func.coalesce(func.sum(case((conditions[name], 1), else_=0)), 0) for name in VIEW_NAMES]
    totals = session.exec(
        select(*sums).where(*filter_conditions(filters or InboxFilter(), session=session))
    ).one()
    return dict(zip(VIEW_NAMES, (int(n) for n in totals), strict=True))


def viewers(
    thread_ids: Sequence[int], *, responder: str, session: Session, now: datetime | None = None
) -> dict[int, list[str]]:
    """Who else has each of these threads open (fresh heartbeats only), in one query."""
    if not thread_ids:
        return {}
    since = (now or utcnow()) - PRESENCE_TTL
    rows = session.exec(
        select(Presence.thread_id, Presence.responder)
        .where(
            col(Presence.thread_id).in_(list(thread_ids)),
            col(Presence.responder) != responder,
            col(Presence.seen_at) > since,
        )
        .order_by(col(Presence.responder))
    )
    found: dict[int, list[str]] = {}
    for thread_id, name in rows:
        if thread_id is not None:
            found.setdefault(thread_id, []).append(name)
    return found


@dataclass
class ThreadView:
    thread: Thread
    customer: Customer | None
    # The whole conversation, oldest first, each with who wrote it.
    messages: list[tuple[Mention, Identity]]
    replies: list[Reply]
    identities: list[Identity] = field(default_factory=list)
    earlier_threads: list[Thread] = field(default_factory=list)
    # Internal notes, oldest first: for colleagues, never sent.
    notes: list[ThreadNote] = field(default_factory=list)
    # Colleagues (never me) with this thread open right now.
    viewers: list[str] = field(default_factory=list)

    def latest_inbound(self) -> Mention | None:
        inbound = [m for m, _ in self.messages if not m.is_own]
        return inbound[-1] if inbound else None


def thread_view(
    thread_id: int, *, session: Session, responder: str = "", now: datetime | None = None
) -> ThreadView | None:
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
    notes = list(
        session.exec(
            select(ThreadNote)
            .where(ThreadNote.thread_id == thread_id)
            .order_by(col(ThreadNote.created_at), col(ThreadNote.id))
        )
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
    watching = viewers([thread_id], responder=responder, session=session, now=now).get(thread_id, [])
    return ThreadView(thread, customer, messages, replies, identities, earlier, notes, watching)


def last_change(*, session: Session, now: datetime | None = None) -> datetime | None:
    """The newest change a desk shows: the desk refreshes only when this moves. Polled often, so indexed reads only.

    Threads (every action and note bumps updated_at), presence heartbeats, and a presence going stale: nothing is
    written when a desk closes, so the moment its heartbeat expired counts. A snooze running out writes nothing
    either, but finding that moment scans every thread (no index on snoozed_until): desks re-read on a slow beat.
    """
    now = now or utcnow()
    stale = now - PRESENCE_TTL
    updated, seen, went_stale = session.exec(
        select(
            select(func.max(Thread.updated_at)).scalar_subquery(),
            select(func.max(Presence.seen_at)).scalar_subquery(),
            select(func.max(Presence.seen_at)).where(col(Presence.seen_at) <= stale).scalar_subquery(),
        )
    ).one()
    moments = [updated, seen, went_stale + PRESENCE_TTL if went_stale else None]
    return max((m for m in moments if m is not None), default=None)
