"""Who is writing, as the classifier's urgency needs to know it: how often the customer already wrote in this
thread, and the tier on their record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, false, func, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from store.incoming import NewMention
from store.models import Customer, Identity, Mention, Thread


@dataclass(frozen=True)
class Contact:
    # The customer's messages in the same thread before this one (stored, or earlier in the same batch).
    prior_contacts: int = 0
    # The tier on the customer's record; None when we have never heard from the author.
    customer_tier: str | None = None


def contacts(mentions: Sequence[NewMention], *, session: Session) -> list[Contact]:
    """One `Contact` per mention, in order, from one query for the whole batch.

    A thread is what `save_mentions` would file the mention under (network + conversation id); the customer
    is the author's, counting every identity they have. The brand's own posts get the empty `Contact`.
    """
    inbound = [m for m in mentions if not m.is_own]
    if not inbound:
        return [Contact() for _ in mentions]
    authors = {(m.network, m.author.native_user_id) for m in inbound}
    conversations = {(m.network, m.conversation_id) for m in inbound}
    author, sibling = aliased(Identity), aliased(Identity)
    # Per author: their customer's tier, and their customer's stored messages in each of this batch's threads.
    stored_in_thread = (
        select(col(Mention.id), col(Mention.identity_id), col(Thread.network), col(Thread.conversation_id))
        .join(Thread, col(Thread.id) == col(Mention.thread_id))
        .where(
            col(Mention.is_own) == false(),
            tuple_(col(Thread.network), col(Thread.conversation_id)).in_(sorted(conversations)),
        )
        .subquery()
    )
    # More columns than sqlmodel's select() types: plain SQLAlchemy, run with execute().
    rows = session.execute(
        select(
            col(author.network),
            col(author.native_user_id),
            col(author.customer_id),
            col(Customer.tier),
            stored_in_thread.c.conversation_id,
            func.count(stored_in_thread.c.id),
        )
        .select_from(author)
        .join(Customer, col(Customer.id) == col(author.customer_id), isouter=True)
        .join(
            sibling,
            or_(col(sibling.customer_id) == col(author.customer_id), col(sibling.id) == col(author.id)),
            isouter=True,
        )
        .join(
            stored_in_thread,
            and_(
                stored_in_thread.c.identity_id == col(sibling.id),
                stored_in_thread.c.network == col(author.network),
            ),
            isouter=True,
        )
        .where(tuple_(col(author.network), col(author.native_user_id)).in_(sorted(authors)))
        .group_by(
            col(author.network),
            col(author.native_user_id),
            col(author.customer_id),
            col(Customer.tier),
            stored_in_thread.c.conversation_id,
        )
    ).all()

    customer_of: dict[tuple[str, str], int | None] = {}
    tier_of: dict[tuple[str, str], str | None] = {}
    stored: dict[tuple[object, str, str], int] = {}
    for network, user_id, customer_id, tier, conversation_id, n in rows:
        customer_of[(network, user_id)] = customer_id
        tier_of[(network, user_id)] = tier
        if conversation_id is not None:
            stored[(_customer_key(network, user_id, customer_id), network, conversation_id)] = n

    earlier_in_batch: dict[tuple[object, str, str], set[str]] = {}
    result = []
    for m in mentions:
        if m.is_own:
            result.append(Contact())
            continue
        who = (m.network, m.author.native_user_id)
        key = (_customer_key(*who, customer_of.get(who)), m.network, m.conversation_id)
        earlier = earlier_in_batch.setdefault(key, set())
        result.append(
            Contact(
                prior_contacts=stored.get(key, 0) + len(earlier - {m.native_id}),
                customer_tier=tier_of.get(who),
            )
        )
        earlier.add(m.native_id)
    return result


def _customer_key(network: str, user_id: str, customer_id: int | None) -> object:
    # An author without a customer record yet (first heard in this very batch) is their own customer.
    return customer_id if customer_id is not None else (network, user_id)
