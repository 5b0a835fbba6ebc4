"""Customer records across networks: one record with all it owns, merging and unmerging records, detaching an
identity linked by mistake, and the lookups behind merge suggestions and CRM imports.

Repositories: the session is keyword-only and nothing here commits. A merged record is never deleted: it keeps
`merged_into_id` so the merge can be undone, and every reader here leaves it out.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Text, cast, column, false, func, or_, text, update
from sqlmodel import Session, col, select

from store.clock import utcnow
from store.models import Customer, CustomerMerge, Identity, Mention, Thread
from store.text import one_line

# Customer.display_name's column width.
DISPLAY_NAME_CHARS = 200


def crm_handle(network: str, handle: str) -> str:
    """How `Customer.crm_handles` spells an account: "x:@jane", lower case so lookups match as typed anywhere."""
    return f"{network}:@{handle.lstrip('@').lower()}"


def split_crm_handle(entry: str) -> tuple[str, str]:
    network, _, handle = entry.partition(":")
    return network, handle.lstrip("@").lower()


def live(customer_id: int, *, session: Session) -> Customer | None:
    """The record, or the one it was merged into (following merges of merges): where its identities are now."""
    customer = session.get(Customer, customer_id)
    seen: set[int | None] = set()
    while customer is not None and customer.merged_into_id is not None and customer.id not in seen:
        seen.add(customer.id)
        customer = session.get(Customer, customer.merged_into_id)
    return customer


def identities_of(customer_id: int, *, session: Session) -> list[Identity]:
    query = select(Identity).where(Identity.customer_id == customer_id, col(Identity.is_own) == false())
    return list(session.exec(query.order_by(col(Identity.network), col(Identity.handle), col(Identity.id))))


def threads_of(customer_id: int, *, session: Session, limit: int = 200) -> list[Thread]:
    query = select(Thread).where(Thread.customer_id == customer_id)
    return list(
        session.exec(query.order_by(col(Thread.last_activity_at).desc(), col(Thread.id).desc()).limit(limit))
    )


def latest_inbound_texts(thread_ids: Collection[int], *, session: Session) -> dict[int, str]:
    """Per thread, the text of the customer's latest message (what a thread list shows as its first line)."""
    if not thread_ids:
        return {}
    latest = (
        select(func.max(Mention.id))
        .where(col(Mention.thread_id).in_(list(thread_ids)), col(Mention.is_own) == false())
        .group_by(col(Mention.thread_id))
    )
    rows = session.exec(select(Mention.thread_id, Mention.text).where(col(Mention.id).in_(latest)))
    return {thread_id: body for thread_id, body in rows}


def thread_counts_of(customer_id: int, *, session: Session) -> dict[tuple[str, str], int]:
    """(network, status) -> number of the customer's threads."""
    rows = session.exec(
        select(Thread.network, Thread.status, func.count())
        .where(Thread.customer_id == customer_id)
        .group_by(col(Thread.network), col(Thread.status))
    )
    return {(network, status): n for network, status, n in rows}


def inbound_scores_of(
    customer_id: int, *, session: Session
) -> list[tuple[float | None, dict[str, float], datetime]]:
    """(complaint, sentiment_probs, created_at) of every message the customer wrote, on any of its identities."""
    query = (
        select(Mention.complaint, Mention.sentiment_probs, Mention.created_at)
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .where(Identity.customer_id == customer_id, col(Mention.is_own) == false())
    )
    return [(complaint, dict(probs or {}), created) for complaint, probs, created in session.exec(query)]


def merges_into(customer_id: int, *, session: Session) -> list[CustomerMerge]:
    """Merges into this record that still stand, newest first."""
    query = select(CustomerMerge).where(
        CustomerMerge.into_customer_id == customer_id, col(CustomerMerge.undone_at).is_(None)
    )
    return list(session.exec(query.order_by(col(CustomerMerge.id).desc())))


def threads_started_by(identity_ids: Collection[int], customer_id: int, *, session: Session) -> list[int]:
    """The customer's threads whose first customer message came from one of these identities."""
    if not identity_ids:
        return []
    first_author = (
        select(Mention.identity_id)
        .where(Mention.thread_id == Thread.id, col(Mention.is_own) == false())
        .order_by(col(Mention.created_at), col(Mention.id))
        .limit(1)
        .correlate(Thread)
        .scalar_subquery()
    )
    query = select(Thread.id).where(Thread.customer_id == customer_id, first_author.in_(list(identity_ids)))
    return [thread_id for thread_id in session.exec(query) if thread_id is not None]


def _lock(customer_ids: Iterable[int], *, session: Session) -> dict[int, Customer]:
    # Row locks on PostgreSQL (SQLite writers are serialised anyway), taken in id order so two desks merging
    # the same pair cannot deadlock, and cannot merge A into B while the other merges B into A.
    query = select(Customer).where(col(Customer.id).in_(sorted(set(customer_ids)))).order_by(col(Customer.id))
    return {c.id: c for c in session.exec(query.with_for_update()) if c.id is not None}


def _move(identity_ids: Collection[int], thread_ids: Collection[int], to: int, *, session: Session) -> None:
    session.flush()  # pending edits first: the UPDATEs below keep loaded objects in step, not unflushed ones
    if identity_ids:
        session.execute(
            update(Identity).where(col(Identity.id).in_(list(identity_ids))).values(customer_id=to)
        )
    if thread_ids:
        # The threads now show another customer: bumping updated_at makes every desk refresh them.
        session.execute(
            update(Thread)
            .where(col(Thread.id).in_(list(thread_ids)))
            .values(customer_id=to, updated_at=utcnow())
        )


def merge_customers(into_id: int, from_id: int, *, responder: str, session: Session) -> CustomerMerge:
    """Move every identity and thread of `from_id` onto `into_id`; `from_id` stays, hidden, for an unmerge."""
    if into_id == from_id:
        raise ValueError(f"customer {into_id} cannot be merged into itself: pick another record")
    found = _lock((into_id, from_id), session=session)
    for customer_id in (into_id, from_id):
        if customer_id not in found:
            raise ValueError(f"no customer {customer_id}: it may have been removed; reload the record")
    into, source = found[into_id], found[from_id]
    if source.merged_into_id is not None:
        raise ValueError(
            f"customer {from_id} is already merged into {source.merged_into_id}; unmerge it there first"
        )
    if into.merged_into_id is not None:
        raise ValueError(
            f"customer {into_id} was merged into {into.merged_into_id}; merge into that record instead"
        )
    identity_ids = [i.id for i in identities_of(from_id, session=session) if i.id is not None]
    thread_ids = list(session.exec(select(Thread.id).where(Thread.customer_id == from_id)))
    return _record_move(
        into, source, identity_ids, thread_ids, whole=True, responder=responder, session=session
    )


def move_identity(
    identity: Identity, into: Customer, *, responder: str, session: Session
) -> CustomerMerge | None:
    """Link one identity to `into` (a CRM row naming its handle), with the threads it started.

    Its old record, if left with no identity, is merged whole (nothing of it would be reachable otherwise).
    Returns the undoable record of the move, or None when the identity was already there or had no record.
    """
    source_id = identity.customer_id
    assert into.id is not None and identity.id is not None
    if source_id == into.id:
        return None
    if source_id is None:
        identity.customer_id = into.id
        session.add(identity)
        return None
    siblings = [i.id for i in identities_of(source_id, session=session) if i.id != identity.id]
    if not siblings:
        return merge_customers(into.id, source_id, responder=responder, session=session)
    source = _lock((source_id,), session=session)[source_id]
    thread_ids = threads_started_by([identity.id], source_id, session=session)
    return _record_move(
        into, source, [identity.id], thread_ids, whole=False, responder=responder, session=session
    )


def _record_move(
    into: Customer,
    source: Customer,
    identity_ids: list[int],
    thread_ids: Sequence[int | None],
    *,
    whole: bool,
    responder: str,
    session: Session,
) -> CustomerMerge:
    assert into.id is not None and source.id is not None
    moved_threads = [t for t in thread_ids if t is not None]
    merge = CustomerMerge(
        into_customer_id=into.id,
        from_customer_id=source.id,
        identity_ids=identity_ids,
        thread_ids=moved_threads,
        # The desk's name for who did it, shown on the record: one line, no control characters.
        responder=one_line(responder),
    )
    if whole:
        source.merged_into_id = into.id
        session.add(source)
    session.add(merge)
    session.flush()
    _move(identity_ids, moved_threads, into.id, session=session)
    return merge


def undo_merge(merge_id: int, *, session: Session) -> Customer:
    """Put back what a merge moved: the record it hid, its identities, their threads. Returns that record."""
    merge = session.exec(select(CustomerMerge).where(CustomerMerge.id == merge_id).with_for_update()).first()
    if merge is None:
        raise ValueError(f"no merge {merge_id}: reload the customer record")
    if merge.undone_at is not None:
        raise ValueError(f"merge {merge_id} was already undone at {merge.undone_at:%Y-%m-%d %H:%M} UTC")
    into_id, from_id = merge.into_customer_id, merge.from_customer_id
    found = _lock((into_id, from_id), session=session)
    into, source = found[into_id], found[from_id]
    if into.merged_into_id is not None:
        raise ValueError(
            f"customer {into_id} has since been merged into {into.merged_into_id}; unmerge that merge first"
        )
    # Only what is still here goes back: an identity detached since then stays where the responder put it.
    identity_ids = list(
        session.exec(
            select(Identity.id).where(
                col(Identity.id).in_(merge.identity_ids), Identity.customer_id == into_id
            )
        )
    )
    returning = [i for i in identity_ids if i is not None]
    thread_ids = set(
        session.exec(
            select(Thread.id).where(col(Thread.id).in_(merge.thread_ids), Thread.customer_id == into_id)
        )
    )
    # Threads those identities started after the merge belong with them too.
    thread_ids |= set(threads_started_by(returning, into_id, session=session))
    merge.undone_at = utcnow()
    session.add(merge)
    if source.merged_into_id == into_id:
        source.merged_into_id = None
        session.add(source)
    session.flush()
    _move(returning, [t for t in thread_ids if t is not None], from_id, session=session)
    restored = session.get(Customer, from_id)
    assert restored is not None
    return restored


def detach_identity(identity_id: int, *, session: Session) -> Customer:
    """Give one identity (and the threads it started) a new record of its own: it was linked by mistake."""
    identity = session.get(Identity, identity_id)
    if identity is None or identity.is_own or identity.customer_id is None:
        raise ValueError(f"no customer identity {identity_id}: reload the customer record")
    source_id = identity.customer_id
    if len(identities_of(source_id, session=session)) < 2:
        raise ValueError(
            f"@{identity.handle} is this customer's only identity: there is nothing to detach it from"
        )
    _lock((source_id,), session=session)
    thread_ids = threads_started_by([identity_id], source_id, session=session)
    # The name comes from the network: stored without control characters, like every name the desk sets.
    name = identity.display_name or identity.handle or identity.native_user_id
    customer = Customer(display_name=one_line(name, DISPLAY_NAME_CHARS))
    session.add(customer)
    session.flush()
    assert customer.id is not None
    _move([identity_id], thread_ids, customer.id, session=session)
    return customer


def search_customers(needle: str, *, session: Session, limit: int = 50) -> list[Customer]:
    """Live records whose name, e-mail, external id or any handle contains `needle`, case-insensitively."""
    query = select(Customer).where(col(Customer.merged_into_id).is_(None))
    needle = needle.strip().lower()
    if needle:
        handle = needle.removeprefix("@")
        holders = select(Identity.customer_id).where(
            func.lower(Identity.handle).contains(handle, autoescape=True)
        )
        query = query.where(
            or_(
                func.lower(Customer.display_name).contains(needle, autoescape=True),
                func.lower(Customer.email).contains(needle, autoescape=True),
                func.lower(Customer.external_id) == needle,
                col(Customer.id).in_(holders),
            )
        )
    return list(
        session.exec(query.order_by(func.lower(Customer.display_name), col(Customer.id)).limit(limit))
    )


# -- the lookups behind merge suggestions and CRM imports --------------------------------------------------------


def live_customers(customer_ids: Collection[int], *, session: Session) -> dict[int, Customer]:
    if not customer_ids:
        return {}
    query = select(Customer).where(
        col(Customer.id).in_(list(customer_ids)), col(Customer.merged_into_id).is_(None)
    )
    return {c.id: c for c in session.exec(query) if c.id is not None}


def emails_mentioned_by(customer_id: int, *, session: Session) -> set[str]:
    """E-mail addresses the customer wrote in their messages (the classifier's EMAIL entities), lower case."""
    query = (
        select(Mention.entities)
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .where(Identity.customer_id == customer_id, col(Mention.is_own) == false())
    )
    return {email for entities in session.exec(query) for email in _emails(entities)}


def _emails(entities: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for entity in entities or []:
        if str(entity.get("label", "")).upper() == "EMAIL" and entity.get("text"):
            yield str(entity["text"]).strip().lower()


def customers_with_emails(emails: Collection[str], *, session: Session) -> dict[int, set[str]]:
    """Customer id -> which of `emails` it has: on its record, or written in one of its messages."""
    found: dict[int, set[str]] = {}
    if not emails:
        return found
    records = select(Customer.id, Customer.email).where(col(Customer.email).in_(list(emails)))
    for customer_id, email in session.exec(records):
        if customer_id is not None and email:
            found.setdefault(customer_id, set()).add(email)
    for email in emails:
        # Full-text search narrows the mentions to read (an index, not a scan); entities confirm each one.
        for customer_id, entities in session.exec(_mentions_containing(email, session=session)):
            if customer_id is not None and email in set(_emails(entities)):
                found.setdefault(customer_id, set()).add(email)
    return found


def _mentions_containing(phrase: str, *, session: Session) -> Any:
    query = select(Identity.customer_id, Mention.entities).join(
        Identity, col(Identity.id) == col(Mention.identity_id)
    )
    query = query.where(col(Mention.is_own) == false())
    if session.get_bind().dialect.name == "sqlite":
        quoted = '"' + phrase.replace('"', '""') + '"'
        matching = text("SELECT rowid FROM mention_fts WHERE mention_fts MATCH :q").bindparams(q=quoted)
        return query.where(col(Mention.id).in_(matching.columns(column("rowid", Integer))))
    return query.where(
        func.to_tsvector(text("'simple'"), Mention.text).op("@@")(
            func.phraseto_tsquery(text("'simple'"), phrase)
        )
    )


def identities_with_handles(handles: Collection[str], *, session: Session) -> list[Identity]:
    """Customer identities whose handle is one of `handles` (lower case, no "@"), on any network."""
    if not handles:
        return []
    query = select(Identity).where(
        func.lower(Identity.handle).in_(list(handles)),
        col(Identity.is_own) == false(),
        col(Identity.customer_id).is_not(None),
    )
    return list(session.exec(query.order_by(col(Identity.updated_at).desc(), col(Identity.id))))


def customers_listing(entries: Collection[str], *, session: Session) -> dict[int, set[str]]:
    """Customer id -> which CRM handle entries ("x:@jane") its `crm_handles` list holds."""
    if not entries:
        return {}
    # JSON lists compared as their stored text (portable across SQLite and PostgreSQL); confirmed below.
    stored = cast(Customer.crm_handles, Text)
    wanted = sorted(entries)
    found: dict[int, set[str]] = {}
    # In groups: SQLite refuses an expression nested deeper than 1000 (each OR is one level).
    for start in range(0, len(wanted), 200):
        group = wanted[start : start + 200]
        query = select(Customer.id, Customer.crm_handles).where(
            or_(*(stored.contains(json.dumps(entry), autoescape=True) for entry in group))
        )
        for customer_id, listed in session.exec(query):
            hits = set(listed or []) & set(entries)
            if customer_id is not None and hits:
                found.setdefault(customer_id, set()).update(hits)
    return found


def multiword_names(*, session: Session, exclude: int) -> Iterator[tuple[int, str]]:
    """(id, display name) of live records whose name has a space: the only ones a name match may suggest.

    Accent folding is not portable SQL, so the comparison happens in Python over these two columns.
    """
    query = select(Customer.id, Customer.display_name).where(
        col(Customer.merged_into_id).is_(None),
        col(Customer.id) != exclude,
        col(Customer.display_name).contains(" "),
    )
    for customer_id, name in session.execute(query.execution_options(yield_per=2000)):
        if customer_id is not None:
            yield customer_id, name


def find_by_external_id(external_id: str, *, session: Session) -> Customer | None:
    return session.exec(select(Customer).where(Customer.external_id == external_id)).first()


def find_by_email(email: str, *, session: Session, external_id: str | None) -> Customer | None:
    """The oldest live record with this e-mail that is not another CRM contact (a different external id)."""
    query = select(Customer).where(Customer.email == email, col(Customer.merged_into_id).is_(None))
    if external_id:
        query = query.where(
            or_(col(Customer.external_id).is_(None), col(Customer.external_id) == external_id)
        )
    return session.exec(query.order_by(col(Customer.id))).first()


def export_rows(*, session: Session) -> Iterator[tuple[Customer, list[Identity]]]:
    """Every live record with its identities, oldest first."""
    identities: dict[int, list[Identity]] = {}
    query = select(Identity).where(col(Identity.is_own) == false(), col(Identity.customer_id).is_not(None))
    for identity in session.exec(query.order_by(col(Identity.network), col(Identity.id))):
        assert identity.customer_id is not None
        identities.setdefault(identity.customer_id, []).append(identity)
    customers = select(Customer).where(col(Customer.merged_into_id).is_(None)).order_by(col(Customer.id))
    for customer in session.exec(customers):
        assert customer.id is not None
        yield customer, identities.get(customer.id, [])
