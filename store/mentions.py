"""Writing mentions: idempotent on (network, native id), thread, customer and cursor in the same transaction.

Safe against any number of writers at once (two JetStream workers, a backfill beside a stream) by construction:
- every row that mentions share (identity, thread, cursor) and the mention itself is created with
  INSERT ... ON CONFLICT DO NOTHING, so two writers creating the same row both go on: one creates it, the other
  waits for that commit and then finds it. A mention counts as "already stored" only when its row is there;
  no other error passes for a duplicate.
- a batch takes its row locks in one order (identities, threads, cursors, each sorted by key), so two batches
  never wait on each other in a circle; a cursor, which every mention of a source moves, is locked last, just
  before the commit, so two writers do not queue behind one hot row for a whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, col, select

from store.clock import as_utc, utcnow
from store.errors import classify, describe
from store.incoming import Author, ScoredMention
from store.models import Customer, Identity, Mention, SourceCursor, Thread, ThreadStatus
from store.threads import apply_inbound, apply_outbound

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass
class SaveResult:
    stored: list[Mention] = field(default_factory=list)
    duplicates: int = 0
    # Items the database refused (a value out of range, a constraint...), with the reason, to be kept aside.
    rejected: list[tuple[ScoredMention, str]] = field(default_factory=list)


def save_mentions(
    items: Sequence[ScoredMention],
    *,
    session: Session,
    sla: Mapping[str, timedelta] | None = None,
    isolate: bool = False,
) -> SaveResult:
    """Store each new mention with its thread, author and customer; skip the ones already stored.

    `isolate`: each mention in a savepoint of its own, so one the database refuses is returned in `rejected`
    and the others are stored (slower: the pipeline asks for it after a batch failed whole). Errors that are
    about the database, not the row (see store.errors), are raised either way.
    """
    result = SaveResult()
    known = known_mentions([_key(item) for item in items], session=session)
    fresh: list[ScoredMention] = []
    for item in items:
        if _key(item) in known:
            result.duplicates += 1
        else:
            known.add(_key(item))
            fresh.append(item)
    budgets = sla or {}
    if isolate:
        for item in fresh:
            try:
                with session.begin_nested():
                    mention = _save_one(item, session=session, sla=budgets)
            except Exception as exc:
                fault = classify(exc)
                if fault.waits:
                    raise
                log.warning("the database refused %s %s", item.mention.network, item.mention.native_id)
                result.rejected.append((item, describe(exc, "", fault)))
                continue
            _count(mention, result)
    else:
        # The newest event knows the author best; the first one is what started a thread.
        identities = _lock_all(fresh, _author_key, _identity, session=session)
        threads = _lock_all(fresh[::-1], _thread_key, _thread, session=session)
        for item in fresh:
            mention = _save_one(
                item,
                session=session,
                sla=budgets,
                identity=identities[_author_key(item)],
                thread=threads[_thread_key(item)],
            )
            _count(mention, result)
    refused = {id(item) for item, _ in result.rejected}
    _advance_cursors([item for item in items if id(item) not in refused], session=session, isolate=isolate)
    return result


def _key(item: ScoredMention) -> Key:
    return item.mention.network, item.mention.native_id


def _author_key(item: ScoredMention) -> Key:
    return item.mention.network, item.mention.author.native_user_id


def _thread_key(item: ScoredMention) -> Key:
    return item.mention.network, item.mention.conversation_id


def _count(mention: Mention | None, result: SaveResult) -> None:
    if mention is None:
        result.duplicates += 1  # another writer stored it after our first look: still exactly once
    else:
        result.stored.append(mention)


def _lock_all(
    items: Sequence[ScoredMention],
    key: Callable[[ScoredMention], Key],
    get: Callable[..., Any],
    *,
    session: Session,
) -> dict[Key, Any]:
    """One row per distinct key, created or locked in sorted key order, from the last item with that key."""
    last = {key(item): item for item in items}
    return {k: get(last[k], session=session) for k in sorted(last)}


def _insert(model: type[SQLModel], session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _values(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(exclude={"id"})


def _save_one(
    item: ScoredMention,
    *,
    session: Session,
    sla: Mapping[str, timedelta],
    identity: Identity | None = None,
    thread: Thread | None = None,
) -> Mention | None:
    """The mention, its identity and its thread; None when another writer has stored the mention already."""
    new, scores = item.mention, item.scores
    created = as_utc(new.created_at)
    identity = identity or _identity(item, session=session)
    thread = thread or _thread(item, session=session)
    assert thread.id is not None and identity.id is not None
    mention = Mention(
        network=new.network,
        native_id=new.native_id,
        thread_id=thread.id,
        identity_id=identity.id,
        brand=new.brand,
        is_own=new.is_own,
        text=new.text,
        language=new.language,
        created_at=created,
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
    inserted = session.execute(
        _insert(Mention, session)
        .values(**_values(mention))
        .on_conflict_do_nothing(index_elements=["network", "native_id"])
        .returning(col(Mention.id))
    ).scalar_one_or_none()
    if inserted is None:
        return None
    # The row is written; the object joins the session as that row, without a second INSERT or a SELECT.
    mention.id = inserted
    make_transient_to_detached(mention)
    session.add(mention)
    if not new.is_own and thread.customer_id is None:
        thread.customer_id = identity.customer_id
    if new.brand and not thread.brand:
        thread.brand = new.brand
    if new.is_own:
        apply_outbound(thread, at=created)
    else:
        apply_inbound(thread, at=created, urgency=scores.urgency, tier=scores.urgency_tier, sla=sla)
    thread.mention_count += 1
    session.add(thread)
    session.flush()
    return mention


def _identity(item: ScoredMention, *, session: Session) -> Identity:
    new = item.mention
    return upsert_identity(new.network, new.author, is_own=new.is_own, session=session)


def upsert_identity(network: str, author: Author, *, is_own: bool, session: Session) -> Identity:
    """The author's identity, created with its own customer record the first time we hear from them."""
    where = (Identity.network == network, Identity.native_user_id == author.native_user_id)
    identity = session.exec(select(Identity).where(*where)).first()
    if identity is None:
        fresh = Identity(
            network=network,
            native_user_id=author.native_user_id,
            is_own=is_own,
            handle=author.handle,
            display_name=author.display_name,
            followers=author.followers,
        )
        created = session.execute(
            _insert(Identity, session)
            .values(**_values(fresh))
            .on_conflict_do_nothing(index_elements=["network", "native_user_id"])
            .returning(col(Identity.id))
        ).scalar_one_or_none()
        if created is not None:
            identity = session.get_one(Identity, created)
            if not is_own:
                customer = Customer(
                    display_name=author.display_name or author.handle or author.native_user_id
                )
                session.add(customer)
                session.flush()
                identity.customer_id = customer.id
                session.add(identity)
                session.flush()
            return identity
        # Another writer created it a moment ago (we waited for its commit): theirs, customer and all.
        identity = session.exec(
            select(Identity).where(*where).execution_options(populate_existing=True)
        ).one()
    # Handles, names and reach change over time; the newest event knows best. Written only when they changed:
    # an update locks the row until the commit, and a busy author writes in many batches at once.
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
        session.flush()
    return identity


def _thread(item: ScoredMention, *, session: Session) -> Thread:
    """The mention's thread, created if new, locked until the commit (two writers updating one thread's
    counters and clocks take turns instead of one overwriting the other)."""
    new = item.mention
    where = (Thread.network == new.network, Thread.conversation_id == new.conversation_id)
    locked = select(Thread).where(*where).with_for_update().execution_options(populate_existing=True)
    thread = session.exec(locked).first()
    if thread is not None:
        return thread
    created = as_utc(new.created_at)
    fresh = Thread(
        network=new.network,
        conversation_id=new.conversation_id,
        brand=new.brand,
        # Started by the brand's own post: nothing to answer until a customer writes.
        status=ThreadStatus.PENDING if new.is_own else ThreadStatus.NEW,
        first_activity_at=created,
        last_activity_at=created,
    )
    session.execute(
        _insert(Thread, session)
        .values(**_values(fresh))
        .on_conflict_do_nothing(index_elements=["network", "conversation_id"])
    )
    return session.exec(locked).one()


def _advance_cursors(items: Iterable[ScoredMention], *, session: Session, isolate: bool) -> None:
    """Each source's cursor to the newest value its mentions carry: one row per source, in sorted order."""
    newest: dict[str, str] = {}
    for item in items:
        source, value = item.mention.source, item.mention.cursor
        if source and value and (source not in newest or is_newer(value, newest[source])):
            newest[source] = value
    for source in sorted(newest):
        if not isolate:
            _advance_cursor(source, newest[source], session=session)
            continue
        try:
            with session.begin_nested():
                _advance_cursor(source, newest[source], session=session)
        except Exception as exc:
            if classify(exc).waits:
                raise
            # The mentions are stored; the next backfill starts from the cursor before, and skips them.
            log.warning("cursor %s not moved to %r: %s", source, newest[source], describe(exc, ""))


def _advance_cursor(source: str, value: str, *, session: Session) -> None:
    now = utcnow()
    created = session.execute(
        _insert(SourceCursor, session)
        .values(source=source, value=value, updated_at=now)
        .on_conflict_do_nothing(index_elements=["source"])
        .returning(col(SourceCursor.source))
    ).scalar_one_or_none()
    if created is not None:
        return
    locked = select(SourceCursor).where(SourceCursor.source == source).with_for_update()
    cursor = session.exec(locked.execution_options(populate_existing=True)).one()
    if is_newer(value, cursor.value):
        cursor.value = value
        cursor.updated_at = now
        session.add(cursor)
        session.flush()


def _number(value: str) -> bool:
    # ASCII only: "¹²³" and "١٢٣" pass str.isdigit(), then int() refuses them.
    return value.isascii() and value.isdigit()


def is_newer(candidate: str, current: str) -> bool:
    """Snowflake ids compare as numbers; other cursors (timestamps, opaque tokens) as text."""
    if _number(candidate) and _number(current):
        return int(candidate) > int(current)
    return candidate > current


def known_mentions(keys: Iterable[Key], *, session: Session) -> set[Key]:
    """Which (network, native id) pairs are already stored."""
    by_network: dict[str, set[str]] = {}
    for network, native_id in keys:
        by_network.setdefault(network, set()).add(native_id)
    found: set[Key] = set()
    for network, ids in sorted(by_network.items()):
        rows = session.exec(
            select(Mention.native_id).where(Mention.network == network, col(Mention.native_id).in_(ids))
        )
        found.update((network, native_id) for native_id in rows)
    return found


def get_cursor(source: str, *, session: Session) -> str | None:
    cursor = session.get(SourceCursor, source)
    return cursor.value if cursor else None
