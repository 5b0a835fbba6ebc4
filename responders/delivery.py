"""Sending alerts through apprise: durable, in order per subscriber, retried without hammering one that is down.

`deliver_pending` first folds the digests that are due (`responders.digest`), drops the alerts about threads the
brand has answered since they fired (`responders.answered`: status "answered", never sent), then takes each
subscriber's pending deliveries in the order they were written:

- one not due yet (`due_at` ahead, or the subscriber's quiet hours) waits;
- a subscriber whose last attempt failed, with nothing delivered since, is down: all its deliveries wait for its
  backoff (base, 2x base ... up to the cap), then the oldest goes first as a probe;
- the first failure of a delivery never tried before, or a second failure in a row, ends the subscriber's turn
  (the rest wait). One that failed before and fails again may be at fault itself (too big, refused), so the next
  is tried too; if that one gets through, the first is marked as failing alone and never holds the others back;
- once one gets through, the rest go at once, backoff or not: the target is back.

A delivery is given up (status "failed") only when it has had `max_attempts` and is older than the give-up age
(24 h by default), so a target down for hours gets everything when it is back, once, within one backoff cap.

Each attempt is claimed in the database before the network call (two deliverers never both send one delivery;
one that dies mid-send has used up the attempt) and its outcome committed right after. Delivery is at least
once: a crash between a subscriber accepting a message and our commit, or an answer lost to a timeout, sends it
again, with the same id (`responders.alert_targets.alert_id`, in headers and a webhook's payload) for the
receiver to drop the repeat; a slow receiver is given the whole send timeout to answer first.

Subscriber URLs carry credentials (tokens, passwords): they live only in settings, logs name the subscriber, and
error text from apprise is scrubbed of the URL's parts before it is stored or logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from responders.alert_targets import alert_id, send
from responders.answered import drop_answered
from responders.digest import fold_digests, next_fold_at
from responders.firing import ATTEMPT_STAMP as _ATTEMPT_STAMP
from responders.firing import stamp as _stamp
from responders.subscribers import PENDING, Subscriber
from store import Store
from store.clock import as_utc, utcnow
from store.models import AlertEvent, AlertFiring

if TYPE_CHECKING:  # alerts may import this module
    from responders.alerts import AlertSettings

log = logging.getLogger(__name__)

DELIVERED, FAILED = "delivered", "failed"
# Quiet hours silence these; a weekly report or a test message is asked for and goes when due.
QUIET_KINDS = ("alert", "update", "digest")

TEST_TITLE = "earful test alert"

# What a claimed attempt records until its outcome is known (the stamp format: responders.firing.ATTEMPT_STAMP).
_NO_OUTCOME = "sending; no outcome recorded (did the process stop?)"
# Marks a failure while the subscriber took other messages: the message's fault (too big, refused), not the
# subscriber being down, so it never holds back the others.
_ALONE = "other alerts got through, this one did not: "


@dataclass
class DeliveryReport:
    delivered: int = 0
    # Attempts that failed this run (including those that gave up).
    failed: int = 0
    # Deliveries given up this run; they will not be tried again.
    gave_up: int = 0
    # Pending deliveries not tried this run: not due yet, quiet hours, or their subscriber is down.
    waiting: int = 0
    # Digests folded this run (sent with the rest if their subscriber is up).
    digests: int = 0
    # Alerts not sent: the brand answered their thread (or it was resolved) before they went out.
    answered: int = 0
    # When to run again: the earliest retry, end of quiet hours, or digest due.
    next_attempt_at: datetime | None = None

    def wait(self, until: datetime) -> None:
        self.waiting += 1
        self.run_again_at(until)

    def run_again_at(self, moment: datetime) -> None:
        self.next_attempt_at = min(self.next_attempt_at or moment, moment)


def deliver_pending(store: Store, settings: AlertSettings, *, now: datetime | None = None) -> DeliveryReport:
    """Fold due digests, then send every pending delivery that may go. Blocking (network calls): run it in a
    worker thread. `now` is the clock for due times, backoff and the recorded times; tests pass it."""
    moment = as_utc(now) if now is not None else utcnow()
    report = DeliveryReport(digests=fold_digests(store, settings, now=moment))
    with store.read() as session:
        pending = list(
            session.exec(
                select(AlertEvent).where(AlertEvent.status == PENDING).order_by(col(AlertEvent.id))
            ).all()
        )
    # Checked before each run: the reply may have come while an alert waited for its subscriber.
    dropped = drop_answered(store, pending)
    report.answered += len(dropped)
    pending = [e for e in pending if e.id not in dropped]
    with store.read() as session:
        last_ok = _last_deliveries({e.subscriber for e in pending}, session=session)
        attachments = _attachments(pending, session=session)
    queues: dict[str, list[AlertEvent]] = {}
    for event in pending:
        queues.setdefault(event.subscriber, []).append(event)
    for name, queue in queues.items():
        subscriber = settings.subscriber(name)
        if subscriber is None:
            for event in queue:
                _finish(store, event, FAILED, moment, "subscriber is no longer configured")
                report.failed += 1
                report.gave_up += 1
            log.warning("%d alerts for %s dropped: no longer configured", len(queue), name)
            continue
        turn = _Turn(store, settings, subscriber, moment, report, attachments, last_ok.get(name))
        turn.run(queue)
    folds = next_fold_at(store)
    if folds is not None:
        report.run_again_at(folds)
    return report


def send_test(subscriber: Subscriber, settings: AlertSettings) -> str | None:
    """Send a clearly labelled test message to `subscriber` now (`earful alerts test NAME`), nothing stored.
    None if it got through, else why not (scrubbed of the URL's secrets)."""
    body = f"earful test alert: if you can read this, {subscriber.name} receives earful alerts.\n"
    return send(subscriber, TEST_TITLE, body, timeout=settings.send_timeout_seconds)


def next_attempt_at(event: AlertEvent, settings: AlertSettings) -> datetime:
    """When a failed delivery may be tried again: its last attempt plus the backoff (at once if never tried)."""
    if event.attempts <= 0:
        return as_utc(event.created_at)
    last = _last_attempt(event) or as_utc(event.created_at)
    wait = min(settings.retry_base_seconds * 2 ** (event.attempts - 1), settings.retry_cap_seconds)
    return last + timedelta(seconds=wait)


@dataclass
class _Turn:
    """One subscriber's turn in a delivery run."""

    store: Store
    settings: AlertSettings
    subscriber: Subscriber
    moment: datetime
    report: DeliveryReport
    attachments: dict[int, list[str]]
    # The latest delivery this subscriber accepted (this run's included).
    last_ok: datetime | None
    last_error: str = field(default="", init=False)

    def run(self, queue: Sequence[AlertEvent]) -> None:
        ready: list[AlertEvent] = []
        for event in queue:
            hold = self._hold(event)
            if hold is None:
                ready.append(event)
            else:
                self.report.wait(hold)
        retry = self._down_until(queue)
        if retry is not None and retry > self.moment:
            for _ in ready:
                self.report.wait(retry)
            return
        # Failed again this run: the target's fault or the message's? A later success here says the message's.
        suspects: list[AlertEvent] = []
        failures_in_row = 0
        for index, event in enumerate(ready):
            own = next_attempt_at(event, self.settings)
            if event.attempts > 0 and own > self.moment and not self._through_since(event):
                self.report.wait(own)
                continue
            fresh = event.attempts == 0
            alone = _refused_alone(event) or self._through_since(event)
            outcome = self._attempt(event, alone=alone)
            if outcome is None:
                continue
            if outcome == DELIVERED:
                for suspect in suspects:
                    _mark_refused_alone(self.store, suspect)
                suspects.clear()
                failures_in_row = 0
                continue
            failures_in_row += 1
            if not (fresh or alone):
                suspects.append(event)
            if fresh or failures_in_row >= 2:
                self._stop(ready[index + 1 :], event, gave_up=outcome == FAILED)
                return

    def _hold(self, event: AlertEvent) -> datetime | None:
        if event.due_at is not None and as_utc(event.due_at) > self.moment:
            return as_utc(event.due_at)
        if event.kind in QUIET_KINDS:
            return self.subscriber.quiet_until(self.moment)
        return None

    def _down_until(self, queue: Sequence[AlertEvent]) -> datetime | None:
        """When a subscriber that failed after it last accepted anything may be tried again; None if it is up."""
        failing = [e for e in queue if e.attempts > 0 and not _refused_alone(e) and self._failed_since_ok(e)]
        return max((next_attempt_at(e, self.settings) for e in failing), default=None)

    def _failed_since_ok(self, event: AlertEvent) -> bool:
        last = _last_attempt(event)
        return last is not None and (self.last_ok is None or last > self.last_ok)

    def _through_since(self, event: AlertEvent) -> bool:
        """Whether the subscriber accepted something after `event`'s last failed attempt: the failure was an
        outage now over. A failure and a success in the same run are neither (so a poisoned message is not
        retried on every run)."""
        last = _last_attempt(event)
        return self.last_ok is not None and (last is None or self.last_ok > last)

    def _attempt(self, event: AlertEvent, *, alone: bool) -> str | None:
        """Try `event`: DELIVERED, PENDING (failed, will retry), FAILED (gave up), None (another deliverer has
        it). `alone`: the subscriber took other messages since this one last failed, so a failure is this
        message's own and says nothing about the subscriber."""
        attempt = event.attempts + 1
        if not _claim(self.store, event, self.moment):
            return None
        name = self.subscriber.name
        error = send(
            self.subscriber,
            event.title,
            event.body,
            timeout=self.settings.send_timeout_seconds,
            attach=self.attachments.get(event.id or -1),
            delivery_id=alert_id(event),
        )
        if error is None:
            _finish(self.store, event, DELIVERED, self.moment, None)
            self.last_ok = self.moment
            self.report.delivered += 1
            log.info("alert %s delivered to %s", event.id, name)
            return DELIVERED
        self.report.failed += 1
        self.last_error = error
        stamped = f"{_stamp(self.moment, attempt)}{_ALONE if alone else ''}{error}"
        event.attempts, event.error = attempt, stamped
        if attempt >= self.settings.max_attempts and self._expired(event):
            _finish(self.store, event, FAILED, self.moment, stamped)
            self.report.gave_up += 1
            log.error("alert %s to %s failed %d times, giving up: %s", event.id, name, attempt, error)
            return FAILED
        _finish(self.store, event, PENDING, self.moment, stamped)
        self.report.run_again_at(next_attempt_at(event, self.settings))
        log.warning("alert %s to %s failed (attempt %d): %s", event.id, name, attempt, error)
        return PENDING

    def _stop(self, rest: Sequence[AlertEvent], failed: AlertEvent, *, gave_up: bool) -> None:
        """The subscriber looks down: the rest wait for its backoff. If it has been failing for the whole give-up
        age, those as old go with it: trying each for another `max_attempts` would never drain the queue."""
        retry = next_attempt_at(failed, self.settings)
        for event in rest:
            if gave_up and self._expired(event):
                why = f"gave up with {self.subscriber.name} unreachable: {self.last_error}"
                if _give_up(self.store, event, f"{_stamp(self.moment, event.attempts)}{why}"):
                    self.report.gave_up += 1
                continue
            self.report.wait(retry)

    def _expired(self, event: AlertEvent) -> bool:
        return self.moment - as_utc(event.created_at) >= timedelta(hours=self.settings.give_up_after_hours)


def _last_deliveries(names: set[str], *, session: Session) -> dict[str, datetime]:
    if not names:
        return {}
    rows = session.exec(
        select(AlertEvent.subscriber, func.max(AlertEvent.delivered_at))
        .where(col(AlertEvent.subscriber).in_(names), AlertEvent.status == DELIVERED)
        .group_by(col(AlertEvent.subscriber))
    ).all()
    return {name: as_utc(at) for name, at in rows if at is not None}


def _attachments(events: Sequence[AlertEvent], *, session: Session) -> dict[int, list[str]]:
    """The files each "report" delivery carries: its firing's `figures["attachments"]`."""
    reports = [e for e in events if e.kind == "report" and e.firing_id is not None and e.id is not None]
    if not reports:
        return {}
    firings = session.exec(select(AlertFiring).where(col(AlertFiring.id).in_({e.firing_id for e in reports})))
    paths = {f.id: f.figures.get("attachments") for f in firings if isinstance(f.figures, dict)}
    return {
        e.id or 0: [str(p) for p in found]
        for e in reports
        if isinstance(found := paths.get(e.firing_id), list)
    }


def _claim(store: Store, event: AlertEvent, moment: datetime) -> bool:
    """Count the attempt before sending, only if nobody else has: two deliverers never both send one event.

    Committed before the network call, so a process that dies mid-send still used up an attempt and an alert
    that crashes us cannot loop forever.
    """
    stamp = f"{_stamp(moment, event.attempts + 1)}{_NO_OUTCOME}"
    return _update_unchanged(store, event, attempts=event.attempts + 1, error=stamp)


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


def _give_up(store: Store, event: AlertEvent, error: str) -> bool:
    return _update_unchanged(store, event, status=FAILED, error=error[:2000])


def _mark_refused_alone(store: Store, event: AlertEvent) -> None:
    stamp = _ATTEMPT_STAMP.match(event.error or "")
    if stamp is not None and not _refused_alone(event):
        event.error = f"{stamp.group(0)}{_ALONE}{(event.error or '')[stamp.end() :]}"
        _update_unchanged(store, event, error=event.error[:2000])


def _update_unchanged(store: Store, event: AlertEvent, **values: object) -> bool:
    """Set `values` on a pending `event` only if no other deliverer has tried it since we read it."""
    with store.write() as session:
        result = session.exec(
            update(AlertEvent)
            .where(
                col(AlertEvent.id) == event.id,
                col(AlertEvent.status) == PENDING,
                col(AlertEvent.attempts) == event.attempts,
            )
            .values(**values)
        )
        return result.rowcount == 1


def _refused_alone(event: AlertEvent) -> bool:
    stamp = _ATTEMPT_STAMP.match(event.error or "")
    return stamp is not None and (event.error or "")[stamp.end() :].startswith(_ALONE)


def _last_attempt(event: AlertEvent) -> datetime | None:
    match = _ATTEMPT_STAMP.match(event.error or "")
    if match is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(match.group(1)))
    except ValueError:
        return None
