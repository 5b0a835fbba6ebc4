"""The rows a mention is stored as (its identity, customer, thread and its own), each created with
INSERT ... ON CONFLICT DO NOTHING so that two writers creating the same row both go on: one creates it, the other
waits for that commit and then finds it.

A batch is written with a few statements for all its mentions (one to read its authors, one to lock its threads,
one to insert its mentions...) rather than several per mention: a transaction that holds thread locks for less
time keeps the other writers waiting for less. Locks are taken in one order, whoever writes: identities, then
threads, each sorted by key, then the mentions of those threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, col, select

from store.clock import as_utc, utcnow
from store.incoming import Author, ScoredMention
from store.models import Customer, Identity, Mention, Thread, ThreadStatus
from store.threads import apply_inbound, apply_outbound

Key = tuple[str, str]
# Rows to one INSERT: far below PostgreSQL's 65,535 and SQLite's 32,766 bound parameters (25 a mention).
CHUNK = 500


def key_of(item: ScoredMention) -> Key:
    return item.mention.network, item.mention.native_id


def author_key(item: ScoredMention) -> Key:
    return item.mention.network, item.mention.author.native_user_id


def thread_key(item: ScoredMention) -> Key:
    return item.mention.network, item.mention.conversation_id


def insert_for(model: type[SQLModel], session: Session) -> Any:
    """INSERT with the back end's ON CONFLICT clause (both spell it alike; SQLAlchemy builds it per dialect)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _values(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(exclude={"id"})


def _new_identity(network: str, author: Author, is_own: bool) -> Identity:
    return Identity(
        network=network,
        native_user_id=author.native_user_id,
        is_own=is_own,
        handle=author.handle,
        display_name=author.display_name,
        followers=author.followers,
    )


def _customer_for(author: Author) -> Customer:
    return Customer(display_name=author.display_name or author.handle or author.native_user_id)


def _refresh(identity: Identity, author: Author, *, session: Session) -> None:
    """Handles, names and reach change over time; the newest event knows best. Written only when they changed:
    an update locks the row until the commit, and a busy author writes in many batches at once."""
    handle = author.handle or identity.handle
    display_name = author.display_name or identity.display_name
    if (identity.handle, identity.display_name, identity.followers) != (
        handle,
        display_name,
        author.followers,
    ):
        identity.handle, identity.display_name, identity.followers = handle, display_name, author.followers
        identity.updated_at = utcnow()
        session.add(identity)


def authors_of(items: Sequence[ScoredMention]) -> dict[Key, tuple[Author, bool]]:
    """Each author of a batch as its mentions describe them, newest first (a handle or name a mention leaves out
    is the one an earlier one gave), and whether the first one was a brand's own account."""
    authors: dict[Key, tuple[Author, bool]] = {}
    for item in items:
        key, author = author_key(item), item.mention.author
        if key in authors:
            before, is_own = authors[key]
            author = author.model_copy(
                update={
                    "handle": author.handle or before.handle,
                    "display_name": author.display_name or before.display_name,
                }
            )
            authors[key] = (author, is_own)
        else:
            authors[key] = (author, item.mention.is_own)
    return authors


def identities_for(authors: Mapping[Key, tuple[Author, bool]], *, session: Session) -> dict[Key, Identity]:
    """Every author's identity (created, with its own customer, the first time), for a whole batch."""
    keys = sorted(authors)

    def select_all(wanted: list[Key]) -> dict[Key, Identity]:
        query = select(Identity).where(
            tuple_(col(Identity.network), col(Identity.native_user_id)).in_(wanted)
        )
        rows = session.exec(query.execution_options(populate_existing=True))
        return {(row.network, row.native_user_id): row for row in rows}

    found = select_all(keys) if keys else {}
    missing = [k for k in keys if k not in found]
    created: set[int] = set()
    for at in range(0, len(missing), CHUNK):
        rows = [_values(_new_identity(k[0], *authors[k])) for k in missing[at : at + CHUNK]]
        statement = (
            insert_for(Identity, session)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["network", "native_user_id"])
        )
        created.update(session.execute(statement.returning(col(Identity.id))).scalars())
    if missing:
        # Ours, or another writer's that we waited for: either way committed or locked by us now.
        found.update(select_all(missing))
        new = [found[k] for k in missing if found[k].id in created and not found[k].is_own]
        customers = [_customer_for(authors[(i.network, i.native_user_id)][0]) for i in new]
        session.add_all(customers)
        session.flush()
        for identity, customer in zip(new, customers, strict=True):
            identity.customer_id = customer.id
            session.add(identity)
    for k in keys:
        if found[k].id not in created:
            _refresh(found[k], authors[k][0], session=session)
    session.flush()
    return found


def threads_for(items: Sequence[ScoredMention], *, session: Session) -> dict[Key, Thread]:
    """Every mention's thread, created if new, locked until the commit (two writers updating one thread's
    counters and clocks take turns instead of one overwriting the other), for a whole batch."""
    first: dict[Key, ScoredMention] = {}
    for item in items:
        first.setdefault(thread_key(item), item)  # the first message is what started a thread
    keys = sorted(first)

    def lock_all(wanted: list[Key]) -> dict[Key, Thread]:
        # Sorted: rows are locked in the order they come, so every writer takes them in the same order.
        query = (
            select(Thread)
            .where(tuple_(col(Thread.network), col(Thread.conversation_id)).in_(wanted))
            .order_by(col(Thread.network), col(Thread.conversation_id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {(row.network, row.conversation_id): row for row in session.exec(query)}

    found = lock_all(keys) if keys else {}
    missing = [k for k in keys if k not in found]
    for at in range(0, len(missing), CHUNK):
        rows = [_values(_new_thread(first[k])) for k in missing[at : at + CHUNK]]
        session.execute(
            insert_for(Thread, session)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["network", "conversation_id"])
        )
    if missing:
        found.update(lock_all(missing))
    return found


def _new_thread(item: ScoredMention) -> Thread:
    new = item.mention
    created = as_utc(new.created_at)
    return Thread(
        network=new.network,
        conversation_id=new.conversation_id,
        brand=new.brand,
        # Started by the brand's own post: nothing to answer until a customer writes.
        status=ThreadStatus.PENDING if new.is_own else ThreadStatus.NEW,
        first_activity_at=created,
        last_activity_at=created,
    )


def mention_row(item: ScoredMention, *, identity: Identity, thread: Thread) -> Mention:
    new, scores = item.mention, item.scores
    assert thread.id is not None and identity.id is not None
    return Mention(
        network=new.network,
        native_id=new.native_id,
        thread_id=thread.id,
        identity_id=identity.id,
        brand=new.brand,
        is_own=new.is_own,
        text=new.text,
        language=new.language,
        created_at=as_utc(new.created_at),
        received_at=as_utc(new.received_at),
        stored_at=utcnow(),
        reply_to_native_id=new.reply_to_native_id,
        raw=new.raw,
        sentiment=scores.sentiment,
        sentiment_probs=scores.sentiment_probs,
        complaint=scores.complaint,
        severity=scores.severity,
        severity_label=scores.severity_label,
        urgency=scores.urgency,
        urgency_tier=scores.urgency_tier,
        entities=scores.entities,
        explanation=scores.explanation,
        risks=scores.risks,
    )


def insert_mentions(rows: Sequence[Mention], *, session: Session) -> dict[Key, Mention]:
    """The rows inserted (by key); a row another writer stored first is left out: a duplicate, nothing else.

    In arrival order, so ids keep the order mentions were stored in. That needs no sorting for the locks: two
    writers inserting the same mention both wait first on its thread, which they lock in key order."""
    ordered = list(rows)
    inserted: dict[Key, Mention] = {}
    by_key = {(m.network, m.native_id): m for m in ordered}
    for at in range(0, len(ordered), CHUNK):
        statement = (
            insert_for(Mention, session)
            .values([_values(m) for m in ordered[at : at + CHUNK]])
            .on_conflict_do_nothing(index_elements=["network", "native_id"])
            .returning(col(Mention.network), col(Mention.native_id), col(Mention.id))
        )
        for network, native_id, new_id in session.execute(statement):
            mention = by_key[(network, native_id)]
            # The row is written; the object joins the session as that row, without a second INSERT or SELECT.
            mention.id = new_id
            make_transient_to_detached(mention)
            session.add(mention)
            inserted[(network, native_id)] = mention
    return inserted


def apply_to_thread(
    item: ScoredMention,
    *,
    thread: Thread,
    identity: Identity,
    sla: Mapping[str, timedelta],
    session: Session,
) -> None:
    """What a newly stored mention changes in its thread: customer, brand, clocks, urgency, count."""
    new, scores = item.mention, item.scores
    created = as_utc(new.created_at)
    if not new.is_own and thread.customer_id is None:
        thread.customer_id = identity.customer_id
    if new.brand and not thread.brand:
        thread.brand = new.brand
    if new.context:
        apply_context(thread, at=created, inbound=not new.is_own, session=session)
    elif new.is_own:
        apply_outbound(thread, at=created)
    else:
        apply_inbound(thread, at=created, urgency=scores.urgency, tier=scores.urgency_tier, sla=sla)
    thread.mention_count += 1


def apply_context(thread: Thread, *, at: datetime, inbound: bool, session: Session) -> None:
    """A post from above the mention that brought the conversation in (`NewMention.context`): history. It moves
    the thread's first clocks back, never what it awaits, its SLA, urgency or snooze, and never reopens it:
    what that post asked was answered then, or was never seen by the brand and is asked again by the mention
    itself. Only a "new" thread the brand turns out to have answered before becomes "open".

    Context arrives after the mention, in any order, so the first answer is found, not followed: the brand's
    earliest post in the thread after its first customer message (stored already, or in this batch)."""
    if inbound:
        thread.first_inbound_at = min(as_utc(thread.first_inbound_at or at), at)
        thread.last_inbound_at = max(as_utc(thread.last_inbound_at or at), at)
    thread.first_activity_at = min(as_utc(thread.first_activity_at), at)
    thread.last_activity_at = max(as_utc(thread.last_activity_at), at)
    thread.updated_at = utcnow()
    if thread.first_inbound_at is None or thread.id is None:
        return
    answered = session.exec(
        select(func.min(Mention.created_at)).where(
            Mention.thread_id == thread.id,
            col(Mention.is_own).is_(True),
            col(Mention.created_at) >= as_utc(thread.first_inbound_at),
        )
    ).one()
    if answered is not None:
        answered = as_utc(answered)
        if thread.first_response_at is None or answered < as_utc(thread.first_response_at):
            thread.first_response_at = answered
    if thread.status == ThreadStatus.NEW and thread.first_response_at is not None:
        # Not a first contact after all: the brand answered the customer before. The same status the
        # conversation would have had, had it been collected from its first post.
        thread.status = ThreadStatus.OPEN
