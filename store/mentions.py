"""Writing mentions: idempotent on (network, native id), thread, customer and cursor in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from store.clock import as_utc, utcnow
from store.incoming import Author, ScoredMention
from store.models import Customer, Identity, Mention, SourceCursor, Thread, ThreadStatus
from store.threads import apply_inbound, apply_outbound


@dataclass
class SaveResult:
    stored: list[Mention] = field(default_factory=list)
    duplicates: int = 0
    # Items the database refused (too long for a column, bad bytes...), with the reason, to be kept aside.
    rejected: list[tuple[ScoredMention, str]] = field(default_factory=list)


def save_mentions(
    items: Sequence[ScoredMention],
    *,
    session: Session,
    sla: Mapping[str, timedelta] | None = None,
) -> SaveResult:
    """Store each new mention with its thread, author and customer; skip the ones already stored."""
    result = SaveResult()
    known = _existing_ids(items, session=session)
    for item in items:
        key = (item.mention.network, item.mention.native_id)
        if key in known:
            result.duplicates += 1
            _advance_cursor(item, session=session)
            continue
        try:
            with session.begin_nested():
                mention = _save_one(item, session=session, sla=sla or {})
                _advance_cursor(item, session=session)
        except IntegrityError:
            # Another writer stored it between our check and our insert: still exactly once.
            result.duplicates += 1
            continue
        except DataError as exc:
            result.rejected.append((item, f"database refused it: {str(exc.orig).strip().splitlines()[0]}"))
            continue
        known.add(key)
        result.stored.append(mention)
    return result


def _existing_ids(items: Sequence[ScoredMention], *, session: Session) -> set[tuple[str, str]]:
    by_network: dict[str, set[str]] = {}
    for item in items:
        by_network.setdefault(item.mention.network, set()).add(item.mention.native_id)
    found: set[tuple[str, str]] = set()
    for network, ids in by_network.items():
        rows = session.exec(
            select(Mention.native_id).where(Mention.network == network, col(Mention.native_id).in_(ids))
        )
        found.update((network, native_id) for native_id in rows)
    return found


def _save_one(item: ScoredMention, *, session: Session, sla: Mapping[str, timedelta]) -> Mention:
    new, scores = item.mention, item.scores
    created = as_utc(new.created_at)
    identity = upsert_identity(new.network, new.author, is_own=new.is_own, session=session)
    thread = session.exec(
        select(Thread).where(Thread.network == new.network, Thread.conversation_id == new.conversation_id)
    ).first()
    if thread is None:
        thread = Thread(
            network=new.network,
            conversation_id=new.conversation_id,
            brand=new.brand,
            # Started by the brand's own post: nothing to answer until a customer writes.
            status=ThreadStatus.PENDING if new.is_own else ThreadStatus.NEW,
            first_activity_at=created,
            last_activity_at=created,
        )
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
    session.add(mention)
    session.flush()
    return mention


def upsert_identity(network: str, author: Author, *, is_own: bool, session: Session) -> Identity:
    """The author's identity, created with its own customer record the first time we hear from them."""
    identity = session.exec(
        select(Identity).where(Identity.network == network, Identity.native_user_id == author.native_user_id)
    ).first()
    if identity is None:
        identity = Identity(network=network, native_user_id=author.native_user_id, is_own=is_own)
        if not is_own:
            customer = Customer(display_name=author.display_name or author.handle or author.native_user_id)
            session.add(customer)
            session.flush()
            identity.customer_id = customer.id
    # Handles, names and reach change over time; the newest event knows best.
    identity.handle = author.handle or identity.handle
    identity.display_name = author.display_name or identity.display_name
    identity.followers = author.followers
    identity.updated_at = utcnow()
    session.add(identity)
    session.flush()
    return identity


def _advance_cursor(item: ScoredMention, *, session: Session) -> None:
    source, value = item.mention.source, item.mention.cursor
    if not source or not value:
        return
    cursor = session.get(SourceCursor, source)
    if cursor is None:
        session.add(SourceCursor(source=source, value=value))
    elif is_newer(value, cursor.value):
        cursor.value = value
        cursor.updated_at = utcnow()
        session.add(cursor)


def is_newer(candidate: str, current: str) -> bool:
    """Snowflake ids compare as numbers; other cursors (timestamps, opaque tokens) as text."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate > current


def known_mentions(keys: list[tuple[str, str]], *, session: Session) -> set[tuple[str, str]]:
    """Which (network, native id) pairs are already stored."""
    if not keys:
        return set()
    found: set[tuple[str, str]] = set()
    for network in {network for network, _ in keys}:
        ids = [native_id for net, native_id in keys if net == network]
        rows = session.exec(
            select(Mention.native_id).where(Mention.network == network, col(Mention.native_id).in_(ids))
        )
        found.update((network, native_id) for native_id in rows)
    return found


def get_cursor(source: str, *, session: Session) -> str | None:
    cursor = session.get(SourceCursor, source)
    return cursor.value if cursor else None
