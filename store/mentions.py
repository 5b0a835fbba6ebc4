"""Writing mentions: idempotent on (network, native id), thread, customer and cursor in the same transaction.

Safe against any number of writers at once (two JetStream workers, a backfill beside a stream) by construction:
- every row that mentions share (identity, thread, cursor) and the mention itself is created with
  INSERT ... ON CONFLICT DO NOTHING (store.mention_rows), so two writers creating the same row both go on: one
  creates it, the other waits for that commit and then finds it. A mention counts as "already stored" only when
  its row is there; no other error passes for a duplicate.
- a batch takes its row locks in one order (identities, threads, each sorted by key, then the mentions of those
  threads, then cursors by key), so two batches never wait on each other in a circle; a cursor, which every
  mention of a source moves, is locked last, just before the commit, so two writers do not queue behind one hot
  row for a whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, col, select

from store.clock import utcnow
from store.errors import classify, describe
from store.incoming import Author, ScoredMention
from store.mention_rows import (
    Key,
    apply_to_thread,
    author_key,
    authors_of,
    identities_for,
    insert_for,
    insert_mentions,
    key_of,
    mention_row,
    thread_key,
    threads_for,
)
from store.models import Identity, Mention, SourceCursor

log = logging.getLogger(__name__)


@dataclass
class SaveResult:
    stored: list[Mention] = field(default_factory=list)
    duplicates: int = 0
    # Items the database refused (a value out of range, a constraint...), with the reason, to be kept aside.
    rejected: list[tuple[ScoredMention, str]] = field(default_factory=list)
    # The stored mentions that are thread context (`NewMention.context`), by row id.
    context: set[int] = field(default_factory=set)

    @property
    def news(self) -> list[Mention]:
        """What was stored that is news: every stored mention but thread context (history fetched to start a
        thread where its conversation did), which the per-mention alert rules must not hear about."""
        return [m for m in self.stored if m.id not in self.context]


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
    known = known_mentions([key_of(item) for item in items], session=session)
    fresh: list[ScoredMention] = []
    for item in items:
        if key_of(item) in known:
            result.duplicates += 1
        else:
            known.add(key_of(item))
            fresh.append(item)
    budgets = sla or {}
    if isolate:
        for item in fresh:
            try:
                with session.begin_nested():
                    _store(batch=[item], session=session, sla=budgets, result=result)
            except Exception as exc:
                fault = classify(exc)
                if fault.waits:
                    raise
                log.warning("the database refused %s %s", item.mention.network, item.mention.native_id)
                result.rejected.append((item, describe(exc, "", fault)))
    elif fresh:
        _store(batch=fresh, session=session, sla=budgets, result=result)
    refused = {id(item) for item, _ in result.rejected}
    _advance_cursors([item for item in items if id(item) not in refused], session=session, isolate=isolate)
    return result


def _store(
    *, batch: list[ScoredMention], session: Session, sla: Mapping[str, timedelta], result: SaveResult
) -> None:
    """The batch's rows, a few statements for all of it, locks in one order (store.mention_rows)."""
    identities = identities_for(authors_of(batch), session=session)
    threads = threads_for(batch, session=session)
    rows = [
        mention_row(item, identity=identities[author_key(item)], thread=threads[thread_key(item)])
        for item in batch
    ]
    inserted = insert_mentions(rows, session=session)
    # In arrival order: a thread's clocks and urgency follow its conversation as it happened.
    for item in batch:
        mention = inserted.get(key_of(item))
        if mention is None:
            result.duplicates += 1  # another writer stored it after our first look: still exactly once
            continue
        thread = threads[thread_key(item)]
        apply_to_thread(item, thread=thread, identity=identities[author_key(item)], sla=sla, session=session)
        session.add(thread)
        result.stored.append(mention)
        if item.mention.context and mention.id is not None:
            result.context.add(mention.id)
    session.flush()


def upsert_identity(network: str, author: Author, *, is_own: bool, session: Session) -> Identity:
    """The author's identity, created with its own customer record the first time we hear from them."""
    key = (network, author.native_user_id)
    return identities_for({key: (author, is_own)}, session=session)[key]


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
        insert_for(SourceCursor, session)
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
