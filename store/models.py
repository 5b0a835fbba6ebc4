"""The domain records, as SQLModel tables.

All datetimes are timezone-aware UTC (`store.clock.utcnow`). Statuses are stored as plain strings, not database
enums, so adding one never needs an ALTER TYPE on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from store.clock import utcnow


class ThreadStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class ReplyStatus(StrEnum):
    QUEUED = "queued"
    # Handed to the network; if we crash in this state the network may or may not have the post, so a retry
    # must look before it posts again (see responders.outbox).
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # Taken back by a responder before it went out (only a queued or failed one can be: never on the network).
    CANCELLED = "cancelled"


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    display_name: str = Field(default="", max_length=200)
    tier: str = Field(default="standard", max_length=40)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    # From a CRM import: the e-mail suggests merges, the external id makes a re-import update, not duplicate.
    email: str | None = Field(default=None, max_length=320, index=True)
    external_id: str | None = Field(default=None, max_length=100, unique=True, index=True)
    # Handles the CRM knows ("x:@jane"), for accounts earful has not heard from yet: a match suggests a merge.
    crm_handles: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # Set when this record was merged into another; it stays so the merge can be undone (see CustomerMerge).
    merged_into_id: int | None = None


class Identity(SQLModel, table=True):
    """One account on one network. Several identities can belong to one customer."""

    __table_args__ = (UniqueConstraint("network", "native_user_id", name="uq_identity_network_user"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    network: str = Field(max_length=20)
    native_user_id: str = Field(max_length=100)
    handle: str = Field(default="", max_length=200)
    display_name: str = Field(default="", max_length=200)
    followers: int = 0
    # The brand's own account: its posts belong to threads but are never inbox items or customers.
    is_own: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class Thread(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("network", "conversation_id", name="uq_thread_network_conversation"),
        Index("ix_thread_inbox", "status", "urgency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(max_length=20)
    conversation_id: str = Field(max_length=100)
    brand: str = Field(default="", max_length=100)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    status: str = Field(default=ThreadStatus.NEW, max_length=20)
    assignee: str | None = Field(default=None, max_length=100)
    urgency: int = 0
    tier: str = Field(default="low", max_length=20)
    first_activity_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    first_inbound_at: datetime | None = None
    last_inbound_at: datetime | None = None
    # The oldest customer message nobody has answered yet; None once the brand has replied.
    awaiting_since: datetime | None = None
    first_response_at: datetime | None = None
    sla_due_at: datetime | None = None
    mention_count: int = 0
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # Snoozed threads leave the working views until the time passes, or (until_reply) the customer writes again.
    snoozed_until: datetime | None = None
    snooze_until_reply: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Bumped on every change, so a desk can poll "what changed since T" with one indexed query.
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class Mention(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("network", "native_id", name="uq_mention_network_native"),
        # Reports read a period's mentions; spike rules a brand's hours.
        Index("ix_mention_created_at", "created_at"),
        Index("ix_mention_brand_created_at", "brand", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(max_length=20)
    native_id: str = Field(max_length=100)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    identity_id: int = Field(foreign_key="identity.id", index=True)
    brand: str = Field(default="", max_length=100)
    is_own: bool = False
    text: str = Field(sa_column=Column(Text, nullable=False))
    language: str | None = Field(default=None, max_length=20)
    created_at: datetime
    received_at: datetime = Field(default_factory=utcnow)
    stored_at: datetime = Field(default_factory=utcnow)
    reply_to_native_id: str | None = Field(default=None, max_length=100)
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sentiment: str | None = Field(default=None, max_length=20)
    sentiment_probs: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    complaint: float | None = None
    severity: int | None = None
    severity_label: str | None = Field(default=None, max_length=40)
    urgency: int = 0
    urgency_tier: str = Field(default="low", max_length=20)
    entities: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Why urgency is what it is: the text's words that pushed it up most (strongest first), and the risk
    # categories (safety, legal, churn, outage...) the text matched. Empty for mentions scored before 0003.
    explanation: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    risks: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Reply(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    in_reply_to_id: int = Field(foreign_key="mention.id")
    responder: str = Field(max_length=100)
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=ReplyStatus.QUEUED, max_length=20, index=True)
    native_id: str | None = Field(default=None, max_length=100)
    idempotency_key: str = Field(max_length=64, unique=True)
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    template: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # The sender that holds it while "sending" (machine|pid|token) and since when: a second sender leaves it
    # alone until that process is gone or the lease runs out (responders.outbox).
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = None
    # The account the sender signed in as: a retry looks for an earlier post by this account, which need not
    # be the brand's first listed one.
    sent_as: str | None = Field(default=None, max_length=200)


class SourceCursor(SQLModel, table=True):
    """Where a source stopped: the newest native id it has stored. Backfill starts here after a reconnect."""

    source: str = Field(primary_key=True, max_length=200)
    value: str = Field(max_length=200)
    updated_at: datetime = Field(default_factory=utcnow)


class SourceHealth(SQLModel, table=True):
    """The latest state of one source, written by the process running it, so `earful status` and every desk
    (any process, any machine on the same database) can see it."""

    source: str = Field(primary_key=True, max_length=200)
    network: str = Field(max_length=20)
    state: str = Field(max_length=20)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # When a rate limit resets, or the next attempt after a failure is due.
    until: datetime | None = None
    last_event_at: datetime | None = None
    delivered: int = 0
    reconnects: int = 0
    # Which process reports it (host:pid): a row nobody updates any more belongs to a stopped process.
    reporter: str = Field(default="", max_length=200)
    updated_at: datetime = Field(default_factory=utcnow)


class Quarantine(SQLModel, table=True):
    """Anything a network sent that could not be parsed, kept with its reason and its raw bytes."""

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(max_length=20)
    source: str = Field(max_length=200)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, index=True)


class AlertFiring(SQLModel, table=True):
    """One time an alert rule tripped: why, the figures, example mentions and threads. Deliveries (AlertEvent)
    point at it, one per subscriber (and one per update of a growing incident)."""

    __table_args__ = (UniqueConstraint("rule", "key", name="uq_alert_firing_rule_key"),)

    id: int | None = Field(default=None, primary_key=True)
    # The rule's name from configuration, and its kind (tier, vip, terms, incident, volume_spike ...).
    rule: str = Field(max_length=100)
    kind: str = Field(max_length=40)
    # What makes two firings the same event: "mention:123", "incident:456", "volume:acme:2026-11-26T17". A rule
    # never fires twice for one key; a growing incident updates its firing instead.
    key: str = Field(max_length=200)
    brand: str | None = Field(default=None, max_length=100)
    network: str | None = Field(default=None, max_length=20)
    title: str = Field(default="", max_length=300)
    # One sentence saying why it fired, in words a reader outside the desk understands.
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The numbers that tripped it, e.g. {"count": 41, "expected": 9.5, "z": 6.2}.
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Up to a few example mentions: {"mention_id", "thread_id", "network", "handle", "text", "created_at"}.
    examples: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    thread_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # 0 for the first alert; +1 each time the event grows and subscribers get an update.
    revision: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class AlertEvent(SQLModel, table=True):
    """One delivery of an alert to one subscriber (a firing, one of its updates, or a digest), kept until it is
    delivered."""

    __table_args__ = (
        UniqueConstraint("rule", "subscriber", "mention_id", name="uq_alert_rule_subscriber_mention"),
        UniqueConstraint("firing_id", "subscriber", "revision", name="uq_alert_firing_subscriber_revision"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=100)
    # The subscriber's name from configuration, never its URL: URLs carry credentials.
    subscriber: str = Field(max_length=100)
    mention_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    thread_id: int | None = Field(default=None, foreign_key="thread.id")
    firing_id: int | None = Field(default=None, foreign_key="alertfiring.id", index=True)
    # Which of the firing's revisions this delivery carries (0: the first alert).
    revision: int = 0
    # alert, update, digest or test.
    kind: str = Field(default="alert", max_length=20)
    title: str = Field(default="", max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # pending (to send), held (waiting for the subscriber's digest), folded (sent inside digest `digest_id`),
    # delivered, failed (gave up).
    status: str = Field(default="pending", max_length=20, index=True)
    # Not before this moment: the end of the subscriber's quiet hours, or the digest's time.
    due_at: datetime | None = None
    digest_id: int | None = Field(default=None, foreign_key="alertevent.id")
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class ThreadNote(SQLModel, table=True):
    """An internal note on a thread: seen by colleagues on the desk, never sent to the customer."""

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    responder: str = Field(max_length=100)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Presence(SQLModel, table=True):
    """Which thread each responder has open right now (a heartbeat; stale rows mean nobody)."""

    responder: str = Field(primary_key=True, max_length=100)
    thread_id: int | None = Field(default=None, foreign_key="thread.id", index=True)
    seen_at: datetime = Field(default_factory=utcnow)


class DeskAction(SQLModel, table=True):
    """One desk action (possibly on many threads) with the state it replaced, so it can be undone."""

    id: int | None = Field(default=None, primary_key=True)
    responder: str = Field(max_length=100, index=True)
    kind: str = Field(max_length=40)
    thread_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Per thread id (as a string): the fields the action changed, as they were before.
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    undone_at: datetime | None = None


class CustomerMerge(SQLModel, table=True):
    """One merge of a customer record into another: what moved, so unmerging puts it back exactly."""

    id: int | None = Field(default=None, primary_key=True)
    into_customer_id: int = Field(foreign_key="customer.id", index=True)
    from_customer_id: int = Field(foreign_key="customer.id")
    identity_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    thread_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    responder: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    undone_at: datetime | None = None


class Draft(SQLModel, table=True):
    """What a responder has typed on a thread and not sent yet: kept until it is sent or discarded, so leaving the
    thread, a crash or a restart loses nothing."""

    __table_args__ = (UniqueConstraint("thread_id", "responder", name="uq_draft_thread_responder"),)

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    responder: str = Field(max_length=100)
    text: str = Field(sa_column=Column(Text, nullable=False))
    # "reply" (to the customer) or "note" (internal); the saved reply it started from, if any.
    mode: str = Field(default="reply", max_length=20)
    template: str | None = Field(default=None, max_length=100)
    updated_at: datetime = Field(default_factory=utcnow)
