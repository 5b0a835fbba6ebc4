"""Helpers for customer-record tests: a customer message stored as the pipeline would, and lookups by handle."""

from __future__ import annotations

from sqlmodel import select

from store.mentions import save_mentions
from store.models import Identity


def store_message(
    store, native_id, *, make_mention, author, network="x", conversation=None, display="", entities=(), **kw
):
    item = make_mention(
        native_id, author=author, network=network, conversation=conversation or f"c-{native_id}", **kw
    )
    item.mention.author.display_name = display
    item.scores.entities = list(entities)
    with store.write() as s:
        save_mentions([item], session=s)


def customer_of(store, handle: str, network: str = "x") -> int:
    with store.read() as s:
        identity = s.exec(
            select(Identity).where(Identity.handle == handle, Identity.network == network)
        ).one()
        assert identity.customer_id is not None
        return identity.customer_id
