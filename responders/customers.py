"""The customer book: one customer across networks. Their record with everything they ever wrote to us, merge and
unmerge suggested by matching e-mails, handles, names and CRM data, and CRM import and export (responders.crm).

Each method is one unit of work.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from responders.safe import one_line, strip_controls
from store import Store
from store.customers import (
    crm_handle,
    customers_listing,
    customers_with_emails,
    detach_identity,
    emails_mentioned_by,
    identities_of,
    identities_with_handles,
    inbound_scores_of,
    latest_inbound_texts,
    live,
    live_customers,
    merge_customers,
    merges_into,
    multiword_names,
    search_customers,
    split_crm_handle,
    thread_counts_of,
    threads_of,
    undo_merge,
)
from store.models import Customer, CustomerMerge, Identity, Thread, ThreadStatus

DEFAULT_TIERS = ("standard", "vip", "watch")
LIMITS = {
    "external_id": 100,
    "name": 200,
    "email": 320,
    "tier": 40,
    "notes": 10_000,
    "tag": 40,
    "handle": 200,
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

# Reason strengths: a shared e-mail is near proof, a shared name is a hint.
EMAIL, CRM, HANDLE, NAME = 4, 3, 2, 1


@dataclass
class CustomerStats:
    threads: int
    # Every thread not resolved (new, open or pending).
    open_threads: int
    resolved: int
    # Inbound mentions scored complaint >= 0.5.
    complaints: int
    # Mean of P(positive) - P(negative) over the customer's messages; None before any was scored.
    mean_sentiment: float | None
    networks: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    # How many threads are in each status, in the statuses' own order (new, open, pending, resolved); none at 0.
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class MergeSuggestion:
    customer: Customer
    # Strongest first: "same e-mail jane@x.com", "CRM lists x:@jane", "same handle @jane (x, mastodon)", "same name …".
    reasons: list[str]
    # Its accounts: two records of one name are told apart by their networks and handles.
    identities: list[Identity] = field(default_factory=list)


@dataclass
class CustomerView:
    customer: Customer
    identities: list[Identity]
    # Every thread on any network, newest first (at most 200).
    threads: list[Thread]
    stats: CustomerStats
    suggestions: list[MergeSuggestion]
    # Merges into this record that still stand, newest first.
    merges: list[CustomerMerge]
    # Thread id -> the customer's latest message in it.
    latest_text: dict[int, str] = field(default_factory=dict)
    # Customer id -> the records merged into this one (hidden elsewhere; named here so a merge can be undone).
    merged_from: dict[int, Customer] = field(default_factory=dict)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    linked: int = 0
    # (CSV line number, reason) for each row left out.
    rejected: list[tuple[int, str]] = field(default_factory=list)


class CustomerBook:
    def __init__(self, store: Store, responder: str, *, tiers: Sequence[str] = DEFAULT_TIERS) -> None:
        self.store = store
        self.responder = responder
        # The tiers a responder picks from (urgency weighs them: nlp UrgencyWeights.customer_tiers).
        self.tiers = list(tiers)

    def view(self, customer_id: int) -> CustomerView | None:
        """The record with all it owns; a record merged away shows the one it was merged into."""
        with self.store.read() as session:
            customer = live(customer_id, session=session)
            if customer is None or customer.id is None:
                return None
            cid = customer.id
            identities = identities_of(cid, session=session)
            threads = threads_of(cid, session=session, limit=200)
            merges = merges_into(cid, session=session)
            merged_from = {
                m.from_customer_id: c
                for m in merges
                if (c := session.get(Customer, m.from_customer_id)) is not None
            }
            return CustomerView(
                customer=customer,
                identities=identities,
                threads=threads,
                stats=_stats(cid, identities, session=session),
                suggestions=_suggest(customer, identities, session=session, limit=5),
                merges=merges,
                latest_text=latest_inbound_texts([t.id for t in threads if t.id], session=session),
                merged_from=merged_from,
            )

    def update(
        self,
        customer_id: int,
        *,
        display_name: str | None = None,
        email: str | None = None,
        tier: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Customer:
        """Change the given fields (None leaves one as it is); ValueError names a bad value and the fix."""
        with self.store.write() as session:
            customer = session.get(Customer, customer_id)
            if customer is None or customer.merged_into_id is not None:
                raise ValueError(f"no customer {customer_id} to edit: reload the record")
            if display_name is not None:
                customer.display_name = clean_name(display_name)
                if not customer.display_name:
                    raise ValueError("a customer needs a name: type one, or keep the old one with escape")
            if email is not None:
                customer.email = clean_email(email)
            if tier is not None:
                customer.tier = clean_tier(tier)
            if notes is not None:
                customer.notes = clean_notes(notes)
            if tags is not None:
                customer.tags = clean_tags(tags)
            session.add(customer)
            return customer

    def merge(self, into_id: int, from_id: int) -> CustomerMerge:
        """Move `from_id`'s identities and threads onto `into_id`; ValueError for a self-merge or a merged record."""
        with self.store.write() as session:
            return merge_customers(into_id, from_id, responder=self.responder, session=session)

    def unmerge(self, merge_id: int) -> Customer:
        """Put back exactly what the merge moved; returns the record it restores."""
        with self.store.write() as session:
            return undo_merge(merge_id, session=session)

    def detach(self, identity_id: int) -> Customer:
        """Move one identity (and the threads it started) to a new record of its own: a wrong link."""
        with self.store.write() as session:
            return detach_identity(identity_id, session=session)

    def suggestions(self, customer_id: int, limit: int = 5) -> list[MergeSuggestion]:
        with self.store.read() as session:
            customer = live(customer_id, session=session)
            if customer is None or customer.id is None:
                return []
            identities = identities_of(customer.id, session=session)
            return _suggest(customer, identities, session=session, limit=limit)

    def search(self, text: str, limit: int = 50) -> list[Customer]:
        """Live records by name, e-mail, external id or handle ("@jane" or "jane"), case-insensitive."""
        with self.store.read() as session:
            return search_customers(text, session=session, limit=limit)

    def import_csv(
        self, source: Path | TextIO, *, progress: Callable[[int, int], None] | None = None
    ) -> ImportResult:
        """Upsert CRM rows (see responders.crm); CrmFileError when the file itself cannot be read."""
        from responders.crm import import_rows, read_crm_csv

        return import_rows(self.store, self.responder, read_crm_csv(source), progress=progress)

    def export_csv(self, out: TextIO) -> int:
        """Write every live record in the import's columns; returns how many."""
        from responders.crm import export_rows

        return export_rows(self.store, out)


def _stats(customer_id: int, identities: list[Identity], *, session: Session) -> CustomerStats:
    counts = thread_counts_of(customer_id, session=session)
    threads = sum(counts.values())
    resolved = sum(n for (_, status), n in counts.items() if status == ThreadStatus.RESOLVED)
    by_status = {
        status.value: n
        for status in ThreadStatus
        if (n := sum(count for (_, s), count in counts.items() if s == status))
    }
    scores = inbound_scores_of(customer_id, session=session)
    sentiments = [p.get("positive", 0.0) - p.get("negative", 0.0) for _, p, _ in scores if p]
    seen = [created for _, _, created in scores]
    return CustomerStats(
        threads=threads,
        open_threads=threads - resolved,
        resolved=resolved,
        complaints=sum(1 for complaint, _, _ in scores if complaint is not None and complaint >= 0.5),
        mean_sentiment=sum(sentiments) / len(sentiments) if sentiments else None,
        networks=sorted({i.network for i in identities} | {network for network, _ in counts}),
        first_seen=min(seen) if seen else None,
        last_seen=max(seen) if seen else None,
        by_status=by_status,
    )


def _suggest(
    customer: Customer, identities: list[Identity], *, session: Session, limit: int
) -> list[MergeSuggestion]:
    """Other live records that look like the same person, the strongest evidence first."""
    assert customer.id is not None
    found: dict[int, dict[str, int]] = {}

    def add(customer_id: int | None, strength: int, reason: str) -> None:
        if customer_id is not None and customer_id != customer.id:
            found.setdefault(customer_id, {}).setdefault(reason, strength)

    emails = emails_mentioned_by(customer.id, session=session)
    if customer.email:
        emails.add(customer.email.lower())
    for other, shared in customers_with_emails(emails, session=session).items():
        for email in sorted(shared):
            add(other, EMAIL, f"same e-mail {email}")

    # The CRM's handles, both ways: it names one of our accounts, or another record's CRM names one of mine.
    mine = {crm_handle(i.network, i.handle) for i in identities if i.handle}
    for other, entries in customers_listing(mine, session=session).items():
        for entry in sorted(entries):
            add(other, CRM, f"CRM lists {entry}")
    wanted = {split_crm_handle(entry): entry for entry in customer.crm_handles}
    for identity in identities_with_handles({handle for _, handle in wanted}, session=session):
        listed = wanted.get((identity.network, identity.handle.lower()))
        if listed:
            add(identity.customer_id, CRM, f"CRM lists {listed}")

    my_networks: dict[str, set[str]] = {}
    for identity in identities:
        if identity.handle:
            my_networks.setdefault(identity.handle.lower(), set()).add(identity.network)
    theirs: dict[tuple[int, str], set[str]] = {}
    for identity in identities_with_handles(set(my_networks), session=session):
        if identity.customer_id is not None and identity.customer_id != customer.id:
            theirs.setdefault((identity.customer_id, identity.handle.lower()), set()).add(identity.network)
    for (other, handle), networks in theirs.items():
        both = sorted(my_networks[handle] | networks)
        add(other, HANDLE, f"same handle @{handle} ({', '.join(both)})")

    name = name_key(customer.display_name)
    if len(name.split()) >= 2:
        for other, their_name in multiword_names(session=session, exclude=customer.id):
            if name_key(their_name) == name:
                add(other, NAME, f"same name {one_line(their_name, LIMITS['name'])}")

    records = live_customers(found, session=session)
    ranked = sorted(
        (
            (sorted(reasons.values(), reverse=True), other)
            for other, reasons in found.items()
            if other in records
        ),
        key=lambda item: (item[0], -item[1]),
        reverse=True,
    )
    return [
        MergeSuggestion(
            records[other],
            sorted(found[other], key=lambda reason: (-found[other][reason], reason)),
            identities_of(other, session=session),
        )
        for _, other in ranked[:limit]
    ]


def name_key(name: str) -> str:
    """A name as a match sees it: case and accents folded, spacing collapsed ("José  SMITH" -> "jose smith")."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(folded.split())


# -- cleaning what a responder types or a CRM file holds ----------------------------------------------------------


def check_length(what: str, value: str) -> str:
    limit = LIMITS[what]
    if len(value) > limit:
        raise ValueError(
            f"{what.replace('_', ' ')} is {len(value):,} characters long; the limit is {limit:,}"
        )
    return value


def clean_name(value: str) -> str:
    return check_length("name", one_line(value))


def clean_email(value: str) -> str | None:
    """Lower case, or None for an empty value; ValueError for anything that is not an address."""
    email = one_line(value).lower()
    if not email:
        return None
    check_length("email", email)
    if not _EMAIL.match(email):
        raise ValueError(
            f"e-mail {one_line(value, 60)!r} is malformed: expected an address like name@example.com"
        )
    return email


def clean_tier(value: str) -> str:
    tier = one_line(value).lower()
    if not tier:
        raise ValueError(f"a tier cannot be empty: use one of {', '.join(DEFAULT_TIERS)}")
    return check_length("tier", tier)


def clean_notes(value: str) -> str:
    return check_length("notes", strip_controls(value).strip())


def clean_tags(values: Sequence[str]) -> list[str]:
    """Lower case, spaces as dashes, no duplicates, in the order given."""
    tags: list[str] = []
    for value in values:
        tag = "-".join(one_line(value).lower().split())
        if tag and tag not in tags:
            tags.append(check_length("tag", tag))
    return tags


def clean_handle(value: str) -> str:
    """A handle as the networks write it: no leading "@", no spaces."""
    handle = one_line(value).removeprefix("@")
    if " " in handle:
        raise ValueError(
            f"handle {one_line(value, 60)!r} has a space in it: one handle per cell, or split with ';'"
        )
    return check_length("handle", handle)
