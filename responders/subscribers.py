"""Alert subscribers as configuration: who hears what, how soon, and when not; and routing a firing to them.

`[[alerts.subscribers]]` in earful.toml (or EARFUL_ALERTS__SUBSCRIBERS as JSON). The URL is an apprise URL and
carries credentials, so it is a secret: keep it in the environment or the secrets file, never in the database
or the logs (the store keeps only the subscriber's name).

`route_firing` writes one delivery (`AlertEvent`) per subscriber who wants a firing: pending to go now, or held
for the subscriber's digest (digest mode, quiet hours, or over `max_per_hour`), with `due_at` saying when the
digest holding it goes out. `responders.digest` folds held deliveries; `responders.delivery` sends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from responders.alert_rules import known_networks
from responders.alert_text import alert_message
from store.clock import as_utc
from store.models import AlertEvent, AlertFiring

if TYPE_CHECKING:  # alerts imports this module for Subscriber
    from responders.alerts import AlertSettings

PENDING, HELD = "pending", "held"
# What counts against max_per_hour and what a digest folds: deliveries of firings, not digests or reports.
ALERT_KINDS = ("alert", "update")


class Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    # An apprise URL: json://host/path, mailtos://user:password@host?to=a@b.c, slack://TokenA/TokenB/TokenC ...
    url: SecretStr
    # Empty: everything. `rules` are rule names from [[alerts.rules]].
    brands: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    # immediate: each alert as it fires. digest: one message per `digest` period listing what fired.
    mode: Literal["immediate", "digest"] = "immediate"
    digest: Literal["hourly", "daily"] = "hourly"
    # A daily digest goes at this local time.
    daily_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"
    # "22:00-07:00" (local time): nothing is sent in between; what fired arrives as one digest when they end.
    quiet_hours: str | None = Field(
        default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
    )
    # Immediate alerts per rolling hour; beyond it they fold into the next hourly digest (0: no cap).
    max_per_hour: int = Field(default=20, ge=0)
    # Also send the weekly report (PDF and CSVs attached) every Monday.
    weekly_report: bool = False

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, value: list[str]) -> list[str]:
        return known_networks(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Paris") from None
        return value

    def wants(self, rule: str, brand: str | None, network: str | None) -> bool:
        if self.rules and rule not in self.rules:
            return False
        if self.brands and brand is not None and brand not in self.brands:
            return False
        return not (self.networks and network is not None and network not in self.networks)

    def wants_firing(self, firing: AlertFiring) -> bool:
        """Whether any rule that matched `firing` is one this subscriber asked for (a mention can match several;
        `figures["rules"]` lists them, and the firing is named after the first)."""
        matched = firing.figures.get("rules") if isinstance(firing.figures, dict) else None
        names = [r for r in matched if isinstance(r, str)] if isinstance(matched, list) else []
        return any(self.wants(rule, firing.brand, firing.network) for rule in names or [firing.rule])

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def quiet_until(self, at: datetime) -> datetime | None:
        """The end (UTC) of the quiet hours `at` falls in, or None if `at` is outside them."""
        if self.quiet_hours is None:
            return None
        start, end = (_clock(part) for part in self.quiet_hours.split("-"))
        if start == end:
            return None
        local = as_utc(at).astimezone(self.zone)
        now = local.time().replace(tzinfo=None)
        if start < end:
            inside, end_day = start <= now < end, local.date()
        elif now >= start:  # the evening part of quiet hours spanning midnight: they end tomorrow
            inside, end_day = True, local.date() + timedelta(days=1)
        else:
            inside, end_day = now < end, local.date()
        if not inside:
            return None
        until = _at_local(end_day, end, self.zone)
        # A wall time skipped or repeated by a DST change can map before `at`; then the hours are over.
        return until if until > as_utc(at) else None

    def next_digest_at(self, after: datetime) -> datetime:
        """The first digest time strictly after `after` (UTC): a daily digest's `daily_at`, else the next local
        hour (local, so a zone half an hour off UTC gets its digest on its own hour)."""
        after = as_utc(after)
        local = after.astimezone(self.zone)
        if self.mode == "digest" and self.digest == "daily":
            at = _clock(self.daily_at)
            for days in range(3):
                candidate = _at_local(local.date() + timedelta(days=days), at, self.zone)
                if candidate > after:
                    return candidate
        hour = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        # Adding in UTC steps over DST changes: local wall-clock arithmetic would land in the skipped hour.
        return hour + timedelta(hours=1)

    def hold_until(self, at: datetime, *, over_cap: bool) -> datetime | None:
        """When what fires at `at` may reach this subscriber, if not at once: the digest time for a digest
        subscriber, the end of the quiet hours, or the next hour for one over `max_per_hour`. None: send now.
        A digest time inside the quiet hours moves to their end."""
        if self.mode == "digest":
            due = self.next_digest_at(at)
        elif (end := self.quiet_until(at)) is not None:
            return end
        elif over_cap:
            due = self.next_digest_at(at)
        else:
            return None
        return self.quiet_until(due) or due


def route_firing(
    firing: AlertFiring, *, session: Session, settings: AlertSettings, now: datetime
) -> list[AlertEvent]:
    """One delivery of `firing` (its current revision) per subscriber who wants it; returns the new ones.

    Revision 0 is an "alert", later revisions "update"s. Idempotent: a subscriber who already has this revision
    (a replay, another process) gets nothing new. Does not commit.
    """
    if firing.id is None:
        session.flush()
    moment = as_utc(now)
    existing = set(
        session.exec(
            select(AlertEvent.subscriber).where(
                AlertEvent.firing_id == firing.id, AlertEvent.revision == firing.revision
            )
        ).all()
    )
    title, body = alert_message(firing)
    first = firing.revision == 0
    mention_id = firing.figures.get("mention_id") if first and isinstance(firing.figures, dict) else None
    thread_id = next((t for t in firing.thread_ids or [] if isinstance(t, int)), None)
    created: list[AlertEvent] = []
    for subscriber in settings.subscribers:
        if subscriber.name in existing or not subscriber.wants_firing(firing):
            continue
        over_cap = _over_cap(subscriber, session=session, now=moment)
        due = subscriber.hold_until(moment, over_cap=over_cap)
        event = AlertEvent(
            rule=firing.rule,
            subscriber=subscriber.name,
            mention_id=mention_id if isinstance(mention_id, int) else None,
            thread_id=thread_id,
            firing_id=firing.id,
            revision=firing.revision,
            kind="alert" if first else "update",
            title=title,
            body=body,
            status=PENDING if due is None else HELD,
            due_at=due,
            created_at=moment,
        )
        try:
            with session.begin_nested():
                session.add(event)
        except IntegrityError:
            continue  # another writer routed it between our look and our insert: it still goes once
        created.append(event)
    return created


def _over_cap(subscriber: Subscriber, *, session: Session, now: datetime) -> bool:
    """Whether the subscriber has had `max_per_hour` alerts sent (or sending) in the past rolling hour."""
    if subscriber.mode != "immediate" or subscriber.max_per_hour <= 0:
        return False
    sent = session.exec(
        select(func.count())
        .select_from(AlertEvent)
        .where(
            AlertEvent.subscriber == subscriber.name,
            col(AlertEvent.kind).in_(ALERT_KINDS),
            col(AlertEvent.status).not_in((HELD, "folded")),
            col(AlertEvent.created_at) > now - timedelta(hours=1),
        )
    ).one()
    return sent >= subscriber.max_per_hour


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
