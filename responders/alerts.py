"""Alert rules and their delivery through apprise.

One rule for now: a customer mention whose urgency tier is at or above `AlertSettings.min_tier` goes to every
subscriber. Firing and sending are two steps, so an alert survives a crash or a subscriber being down:

1. `queue_alerts` runs inside the ingestion transaction and writes one pending `AlertEvent` per subscriber,
   at most once per (rule, subscriber, mention), so a replayed mention never alerts twice.
2. `deliver_pending` sends what is due, committing each event's outcome right after its attempt, and retries
   failures with exponential backoff until `max_attempts`.

Delivery is at least once: a crash between a subscriber accepting an alert and our commit sends it again.

Subscriber URLs carry credentials (tokens, passwords), so they live only in settings: the database keeps the
subscriber's name, logs name the subscriber, and error text from apprise is scrubbed of the URL's parts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

import apprise
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from responders.report_model import network_name, plural
from responders.safe import one_line, strip_controls
from store import Store
from store.clock import as_utc, utcnow
from store.models import AlertEvent, Identity, Mention, Thread
from store.threads import TIER_ORDER

log = logging.getLogger(__name__)

RULE = "urgent-mention"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

# A mention the classifier thinks more likely a complaint than not is called one in the alert.
COMPLAINT_THRESHOLD = 0.5
# Long posts (Reddit) are cut: the alert is a pointer to the thread, not a copy of it.
MAX_TEXT_CHARS = 2000
TITLE_CHARS = 300

# The last attempt's time and number lead the error text, so the backoff can be computed without a column.
_NO_OUTCOME = "sending; no outcome recorded (did the process stop?)"
_ATTEMPT_STAMP = re.compile(r"^(\S+) attempt (\d+): ")


class Subscriber(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    # An apprise URL: json://host/path, mailto://user:password@host, slack://TokenA/TokenB/TokenC ...
    url: SecretStr


class AlertSettings(BaseModel):
    min_tier: str = "critical"
    subscribers: list[Subscriber] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1)
    # Waits between attempts: base, 2x base, 4x base ... never more than the cap.
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_cap_seconds: float = Field(default=3600.0, gt=0)
    # A subscriber that accepts the connection and never answers must not hold up the others for long.
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    # A source with no new mention for this long raises a "source silent" alert (0: never). A quiet brand on a
    # small network may want hours; a busy brand on X wants minutes.
    source_silent_minutes: float = Field(default=60.0, ge=0)

    @field_validator("min_tier")
    @classmethod
    def _known_tier(cls, value: str) -> str:
        if value not in TIER_ORDER:
            raise ValueError(f"min_tier must be one of {', '.join(TIER_ORDER)}, not {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        names = [s.name for s in self.subscribers]
        if len(names) != len(set(names)):
            # Events are keyed by subscriber name: two with one name would share (and lose) alerts.
            raise ValueError("alert subscriber names must be unique")
        return self


@dataclass
class DeliveryReport:
    delivered: int = 0
    # Attempts that failed this run (including those that gave up).
    failed: int = 0
    # Events that reached max_attempts this run and will not be tried again.
    gave_up: int = 0
    # Pending events whose next attempt is not due yet.
    waiting: int = 0
    next_attempt_at: datetime | None = None


def is_alertable(mention: Mention, settings: AlertSettings) -> bool:
    if mention.is_own:
        return False
    return TIER_ORDER.get(mention.urgency_tier, -1) >= TIER_ORDER[settings.min_tier]


def queue_alerts(
    mentions: Sequence[Mention], *, session: Session, settings: AlertSettings
) -> list[AlertEvent]:
    """Write a pending alert per subscriber for each mention that fires the rule; returns the new ones.

    Idempotent: an event already there (a replay, or another writer) is left alone. Does not commit.
    """
    firing = [m for m in mentions if m.id is not None and is_alertable(m, settings)]
    if not firing or not settings.subscribers:
        return []
    existing = _already_queued([m.id for m in firing if m.id is not None], session=session)
    created: list[AlertEvent] = []
    for mention in firing:
        identity = session.get(Identity, mention.identity_id)
        thread = session.get(Thread, mention.thread_id)
        if identity is None or thread is None:
            log.warning("mention %s has no identity or thread; no alert", mention.id)
            continue
        title, body = alert_text(mention, identity, thread)
        for subscriber in settings.subscribers:
            if (subscriber.name, mention.id) in existing:
                continue
            event = AlertEvent(
                rule=RULE,
                subscriber=subscriber.name,
                mention_id=mention.id,
                thread_id=thread.id,
                title=title,
                body=body,
                status=PENDING,
            )
            try:
                with session.begin_nested():
                    session.add(event)
            except IntegrityError:
                # Another writer queued it between our check and our insert: it still fires once.
                continue
            existing.add((subscriber.name, mention.id))
            created.append(event)
    return created


def _already_queued(mention_ids: list[int], *, session: Session) -> set[tuple[str, int | None]]:
    rows = session.exec(
        select(AlertEvent.subscriber, AlertEvent.mention_id).where(
            AlertEvent.rule == RULE, col(AlertEvent.mention_id).in_(mention_ids)
        )
    )
    return {(subscriber, mention_id) for subscriber, mention_id in rows}


def alert_text(mention: Mention, identity: Identity, thread: Thread) -> tuple[str, str]:
    """The alert's title and plain-text body: why it fired, what was said, how to open the thread."""
    tier = (mention.urgency_tier or "urgent").capitalize()
    kind = "complaint" if (mention.complaint or 0) >= COMPLAINT_THRESHOLD else "mention"
    network = network_name(mention.network)
    who = f"@{identity.handle}" if identity.handle else identity.display_name or identity.native_user_id
    about = f" about {mention.brand}" if mention.brand else ""
    reason = (
        f"{tier} {kind}{about} on {network} from {who} ({plural(identity.followers, 'follower')}): "
        f"urgency {mention.urgency}"
    )
    title = one_line(reason, TITLE_CHARS)
    text = strip_controls(mention.text).strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1] + "…"
    body = (
        f"{one_line(reason)}\n\n"
        f"{text}\n\n"
        f"Posted {as_utc(mention.created_at):%Y-%m-%d %H:%M} UTC in thread {thread.id}. "
        f"Open it: earful tui --thread {thread.id}\n"
    )
    return title, body


def next_attempt_at(event: AlertEvent, settings: AlertSettings) -> datetime:
    """When a pending event is due: at once if never tried, else its last attempt plus the backoff."""
    if event.attempts <= 0:
        return as_utc(event.created_at)
    last = _last_attempt(event) or as_utc(event.created_at)
    wait = min(settings.retry_base_seconds * 2 ** (event.attempts - 1), settings.retry_cap_seconds)
    return last + timedelta(seconds=wait)


def deliver_pending(store: Store, settings: AlertSettings, *, now: datetime | None = None) -> DeliveryReport:
    """Send every pending alert that is due. Blocking (network calls): run it in a worker thread.

    `now` is the clock for the backoff and the recorded times; tests pass it to skip the waiting.
    """
    moment = as_utc(now) if now is not None else utcnow()
    report = DeliveryReport()
    subscribers = {s.name: s for s in settings.subscribers}
    with store.read() as session:
        pending = session.exec(
            select(AlertEvent).where(AlertEvent.status == PENDING).order_by(col(AlertEvent.id))
        ).all()
    for event in pending:
        due = next_attempt_at(event, settings)
        # A never-tried event goes at once, whatever the clocks of the writer and of this deliverer say.
        if event.attempts > 0 and due > moment:
            report.waiting += 1
            report.next_attempt_at = min(report.next_attempt_at or due, due)
            continue
        subscriber = subscribers.get(event.subscriber)
        if subscriber is None:
            _finish(store, event, FAILED, moment, "subscriber is no longer configured")
            log.warning(
                "alert %s: subscriber %s is no longer configured; dropped", event.id, event.subscriber
            )
            report.failed += 1
            report.gave_up += 1
            continue
        attempt = event.attempts + 1
        if not _claim(store, event, moment):
            continue  # another deliverer took it
        error = _send(subscriber, event, timeout=settings.send_timeout_seconds)
        if error is None:
            _finish(store, event, DELIVERED, moment, None)
            log.info("alert %s delivered to %s", event.id, subscriber.name)
            report.delivered += 1
            continue
        report.failed += 1
        stamped = f"{_stamp(moment, attempt)}{error}"
        if attempt >= settings.max_attempts:
            _finish(store, event, FAILED, moment, stamped)
            report.gave_up += 1
            log.error(
                "alert %s to %s failed %d times, giving up: %s", event.id, subscriber.name, attempt, error
            )
        else:
            _finish(store, event, PENDING, moment, stamped)
            event.attempts, event.error = attempt, stamped
            due = next_attempt_at(event, settings)
            report.next_attempt_at = min(report.next_attempt_at or due, due)
            log.warning("alert %s to %s failed (attempt %d): %s", event.id, subscriber.name, attempt, error)
    return report


def _claim(store: Store, event: AlertEvent, moment: datetime) -> bool:
    """Count the attempt before sending, only if nobody else has: two deliverers never both send one event.

    Committed before the network call, so a process that dies mid-send still used up an attempt and an alert
    that crashes us cannot loop forever.
    """
    with store.write() as session:
        claimed = session.exec(
            update(AlertEvent)
            .where(
                col(AlertEvent.id) == event.id,
                col(AlertEvent.status) == PENDING,
                col(AlertEvent.attempts) == event.attempts,
            )
            .values(
                attempts=event.attempts + 1,
                error=f"{_stamp(moment, event.attempts + 1)}{_NO_OUTCOME}",
            )
        )
        return claimed.rowcount == 1


def _finish(store: Store, event: AlertEvent, status: str, moment: datetime, error: str | None) -> None:
    with store.write() as session:
        row = session.get(AlertEvent, event.id)
        if row is None:
            return
        row.status = status
        row.error = error
        if status == DELIVERED:
            row.delivered_at = moment
        session.add(row)


def _send(subscriber: Subscriber, event: AlertEvent, *, timeout: float) -> str | None:
    """Deliver one event; None on success, else why not (scrubbed of the URL's secrets).

    On a timeout apprise stops waiting but its worker may still get through, so a retry can repeat an alert.
    """
    url = subscriber.url.get_secret_value()
    try:
        # Memory-only storage: apprise would otherwise keep per-service state files under the user's home.
        notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        if not notifier.add(url):
            return "the subscriber URL is not a valid apprise URL"
        result = notifier.notify(
            title=event.title, body=event.body, body_format=apprise.NotifyFormat.TEXT, timeout=timeout
        )
    except Exception as exc:  # a plugin bug must not stop the other subscribers
        return _scrub(f"{type(exc).__name__}: {exc}", url)
    if result:
        return None
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return _scrub("; ".join(messages) or f"apprise reported {result.status.name}", url)


def _scrub(message: str, url: str) -> str:
    """`message` with the URL and each of its parts (tokens, user, password, host) replaced by ***."""
    pieces = {url, unquote(url)}
    _scheme, _, rest = url.partition("://")
    pieces.update(p for p in re.split(r"[/:@?&=#]+", rest) if len(p) >= 4)
    pieces.update(unquote(p) for p in list(pieces))
    for piece in sorted(pieces, key=len, reverse=True):
        message = message.replace(piece, "***")
    return message[:2000]


def _stamp(moment: datetime, attempt: int) -> str:
    return f"{moment.isoformat()} attempt {attempt}: "


def _last_attempt(event: AlertEvent) -> datetime | None:
    match = _ATTEMPT_STAMP.match(event.error or "")
    if match is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(match.group(1)))
    except ValueError:
        return None
