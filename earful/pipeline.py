"""The pipeline: collectors -> bus -> micro-batched classification -> store -> alerts.

One code path for `earful serve`, `earful demo` and the tests. Collectors block on their network clients, so each
runs in a thread and publishes to the bus; everything after the bus runs on one asyncio loop, with the model and
the database each in their own single-thread executor (one writer, one model: no contention, batches in order).

Nothing one event or one batch does stops the consumer: store errors go by store.errors' rule (earful.ingest),
and anything else is logged with its traceback, kept in `stats.last_error`, the batch put aside, and the next
one taken.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from earful.alerting import AlertClock, ConfigWatcher
from earful.ingest import BatchWriter
from earful.scoring import classify_batch
from earful.settings import Settings
from earful.sources import REPORTER, SourceWatch, build_collectors, health_key
from listener.bus import Batch, Bus, InProcessBus
from listener.health import HealthEvent
from nlp.batching import next_batch
from responders.alerts import AlertSettings
from responders.delivery import deliver_pending
from store import Store
from store.clock import utcnow
from store.contacts import Contact, contacts
from store.errors import cause, classify, describe
from store.health import HealthRow, clear_waiting_note, record_health, write_waiting_note
from store.incoming import NewMention, ScoredMention
from store.mentions import get_cursor, known_mentions
from store.quarantine import put_aside

if TYPE_CHECKING:
    from nlp import Classifier

log = logging.getLogger(__name__)


@dataclass
class PipelineStats:
    received: int = 0
    classified: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts_queued: int = 0
    alerts_delivered: int = 0
    # Seconds from a collector receiving a mention to its commit in the store, for mentions received once the
    # model was loaded (the start-up backlog waits for the model, which says nothing about steady state).
    latencies: list[float] = field(default_factory=list)
    ready_at: float | None = None
    last_error: str | None = None


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        classifier_factory: Callable[[], Classifier] | None = None,
        collectors: Callable[[Pipeline], list[Any]] | None = None,
        consume: bool = True,
        watcher: ConfigWatcher | None = None,
    ) -> None:
        """`consume=False`: collect and publish only (`earful serve` with JetStream workers elsewhere); an
        `earful worker` is a pipeline with no collectors."""
        self.settings = settings
        self.consume = consume
        self.store = store
        self.stats = PipelineStats()
        self._classifier_factory = classifier_factory
        self._collector_factory = collectors if collectors is not None else build_collectors
        self.watch = SourceWatch(self)
        self._model = ThreadPoolExecutor(1, thread_name_prefix="earful-model")
        self._db = ThreadPoolExecutor(1, thread_name_prefix="earful-db")
        self._alerts = ThreadPoolExecutor(1, thread_name_prefix="earful-alerts")
        self._alerts_busy = threading.Lock()
        self._next_alert_attempt: datetime | None = None
        self.writer = BatchWriter(
            store,
            self._db,
            sla=settings.sla.budgets,
            alerts=lambda: self.alert_settings,
            on_error=self._note_error,
            retry_max_seconds=settings.pipeline.write_retry_max_seconds,
        )
        self._health_failing_since: datetime | None = None
        self._storage_reported = False
        self.clock = AlertClock(
            settings,
            store,
            db=self._db,
            model=self._model,
            deliver=self._deliver_alerts,
            watcher=watcher,
            on_error=self._note_error,
        )
        self.bus: Bus | None = None
        self.ready = threading.Event()
        self.collectors: list[Any] = []
        # The latest state each source reported: what `earful status` and the desk's title bar show.
        self.health: dict[str, HealthEvent] = {}

    @property
    def alert_settings(self) -> AlertSettings:
        """The alert rules in force: the clock's, which follow edits of the configuration."""
        return self.clock.settings.alerts

    def _note_error(self, message: str | None) -> None:
        self.stats.last_error = message

    # Callbacks handed to collectors; called from their threads.
    def publish(self, mention: NewMention) -> None:
        assert self.bus is not None
        self.stats.received += 1
        self.bus.publish(mention)

    def quarantine(self, network: str, source: str, reason: str, raw: bytes) -> None:
        try:
            with self.store.write() as session:
                put_aside(network, source, reason, raw, session=session)
        except Exception as exc:
            log.error(
                "could not keep a bad %s event aside (%s): %s", network, reason, describe(exc, self.store.url)
            )

    def note_health(self, event: HealthEvent) -> None:
        self.health[health_key(event)] = event

    def cursor(self, source: str) -> str | None:
        with self.store.read() as session:
            return get_cursor(source, session=session)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then store everything the collectors handed over before they stopped."""
        loop = asyncio.get_running_loop()
        self.bus = self._make_bus(loop)
        await self.bus.start()
        self.collectors = self._collector_factory(self)
        threads = [
            threading.Thread(target=c.run, name=f"earful-{type(c).__name__}", daemon=True)
            for c in self.collectors
        ]
        for thread in threads:
            thread.start()
        consumer: asyncio.Task[None] | None = None
        try:
            tasks = [asyncio.create_task(self._watch_sources(stop))]
            if self.consume:
                classifier = await loop.run_in_executor(self._model, self._load_classifier)
                self.stats.ready_at = time.time()
                consumer = asyncio.create_task(self._consume_forever(classifier, stop))
                self.clock.attach(classifier)
                tasks.append(asyncio.create_task(self._retry_alerts(stop)))
                tasks.append(asyncio.create_task(self.clock.run(stop)))
            self.ready.set()
            await stop.wait()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.error("a pipeline task had stopped: %s", outcome, exc_info=outcome)
        finally:
            for collector in self.collectors:
                collector.stop()
            for thread in threads:
                await loop.run_in_executor(None, thread.join, 10)
            await self.bus.close()
            try:
                # The final state of every source (stopped), so `earful status` does not show it running.
                await loop.run_in_executor(self._db, self.watch.publish)
            except Exception as exc:
                log.error("could not record the sources' final state: %s", describe(exc, self.store.url))
            clear_waiting_note(REPORTER)
            try:
                if consumer is not None:
                    await consumer
            finally:
                await self.bus.disconnect()
                self._model.shutdown(wait=False)
                self._alerts.shutdown(wait=True)
                self._db.shutdown(wait=True)

    def _make_bus(self, loop: asyncio.AbstractEventLoop) -> Bus:
        if self.settings.bus.kind == "jetstream":
            from listener.jetstream import JetStreamBus

            return JetStreamBus(loop, self.settings.bus, consume=self.consume)
        return InProcessBus(loop, next_batch)

    async def _consume_forever(self, classifier: Classifier, stop: asyncio.Event) -> None:
        # `_consume` handles every batch's failures itself; this only keeps a bug in it from ending storage
        # for good while `earful status` still says streaming.
        while True:
            try:
                await self._consume(classifier, stop)
                return
            except Exception as exc:
                log.exception("the consumer failed; starting it again")
                self.stats.last_error = f"the consumer failed and was restarted: {cause(exc)}"
                await asyncio.sleep(1.0)

    async def _consume(self, classifier: Classifier, stop: asyncio.Event) -> None:
        assert self.bus is not None
        loop = asyncio.get_running_loop()
        nlp = self.settings.nlp
        while True:
            batch = await self.bus.next_batch(max_items=nlp.batch_size, max_wait=nlp.batch_ms / 1000)
            for reason, raw in batch.rejected:
                await loop.run_in_executor(
                    self._db, self.quarantine, "bus", self.settings.bus.subject, reason, raw
                )
            settled = True
            if batch.mentions:
                try:
                    settled = await self._process(batch.mentions, classifier, stop)
                except Exception as exc:
                    settled = await self._put_batch_aside(batch, exc)
            await self._settle(batch, settled)
            if batch.ended:
                return

    async def _put_batch_aside(self, batch: Batch, exc: Exception) -> bool:
        log.exception("a batch of %s mentions could not be handled; keeping it aside", len(batch.mentions))
        reason = f"the pipeline could not handle the batch this mention came in: {cause(exc)}"
        self.stats.last_error = f"{len(batch.mentions)} mentions kept aside in quarantine: {cause(exc)}"
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._db, self.writer.put_batch_aside, batch.mentions, reason
            )
        except Exception:
            log.exception("could not keep the batch aside either; handing it back to the bus")
            return False
        self.stats.rejected += len(batch.mentions)
        return True

    async def _settle(self, batch: Batch, stored: bool) -> None:
        """Acknowledge a batch whose every mention is confirmed stored or kept aside; else hand it back."""
        try:
            await (batch.ack() if stored else batch.nak())
        except Exception as exc:  # the bus redelivers what it did not hear about: stored already, skipped
            log.warning("could not %s a batch on the bus: %s", "ack" if stored else "nak", cause(exc))

    def _load_classifier(self) -> Classifier:
        if self._classifier_factory is not None:
            return self._classifier_factory()
        from nlp import Classifier

        return Classifier.load(self.settings.nlp.model_copy(update={"products": self._products()}))

    def _products(self) -> list[str]:
        return sorted(
            {p for brand in self.settings.brands for p in brand.products} | set(self.settings.nlp.products)
        )

    async def _process(self, batch: list[NewMention], classifier: Classifier, stop: asyncio.Event) -> bool:
        """Classify and store one batch; False when it could not be stored (stopping with the database down)."""
        loop = asyncio.get_running_loop()
        # A backfill or a poller overlapping the stream re-delivers what is stored: no model time for those.
        # They still go to the store, which skips them but moves the cursor they may carry.
        try:
            known = await loop.run_in_executor(self._db, self._known, batch)
        except Exception as exc:
            log.warning("could not look up which mentions are stored already: %s", cause(exc, self.store.url))
            known = set()
        fresh = [m for m in batch if (m.network, m.native_id) not in known]
        try:
            history = await loop.run_in_executor(self._db, self._contacts, fresh)
        except Exception as exc:
            # Urgency without the customer's history beats no urgency: the write below waits for the database.
            log.warning(
                "scoring %s mentions without their customers' history: %s",
                len(fresh),
                cause(exc, self.store.url),
            )
            history = [Contact() for _ in fresh]
        scored = await loop.run_in_executor(self._model, classify_batch, classifier, fresh, history)
        self.stats.classified += len(scored)
        scored += [ScoredMention(mention=m) for m in batch if (m.network, m.native_id) in known]
        written = await self.writer.write(scored, stop)
        if written is None:
            return False
        result = written.result
        now = time.time()
        self.stats.stored += len(result.stored)
        self.stats.duplicates += result.duplicates
        self.stats.rejected += len(result.rejected)
        self.stats.alerts_queued += written.alerts_queued
        ready = self.stats.ready_at or now
        self.stats.latencies.extend(
            now - m.received_at.timestamp() for m in result.stored if m.received_at.timestamp() >= ready
        )
        if self.alert_settings.subscribers and not self._alerts_busy.locked():
            loop.run_in_executor(self._alerts, self._deliver_alerts)
        return True

    async def _retry_alerts(self, stop: asyncio.Event) -> None:
        """Alerts a subscriber could not take yet are retried on their backoff, new mentions or not."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            due = self._next_alert_attempt
            wait = 5.0 if due is None else max(1.0, min(60.0, due.timestamp() - time.time()))
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                if due is not None and not self._alerts_busy.locked():
                    await loop.run_in_executor(self._alerts, self._deliver_alerts)

    async def _watch_sources(self, stop: asyncio.Event) -> None:
        """Each source's health into the store every few seconds; a silence check every minute."""
        loop = asyncio.get_running_loop()
        every = self.settings.pipeline.health_seconds
        checks = 0
        while True:
            try:
                await loop.run_in_executor(self._db, self.watch.publish)
                await loop.run_in_executor(self._db, self._publish_storage)
                self._health_written()
                checks += 1
                if checks * every >= 60 or stop.is_set():
                    checks = 0
                    queued = await loop.run_in_executor(self._db, self.watch.check_silence)
                    if queued and not self._alerts_busy.locked():
                        loop.run_in_executor(self._alerts, self._deliver_alerts)
            except Exception as exc:
                self._health_failed(exc)
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass

    def _publish_storage(self) -> None:
        """The writer's own line in `earful status` once it has had to wait for the database: the sources may
        be streaming while nothing they deliver can be stored."""
        waiting = self.writer.waiting
        if waiting is None and not self._storage_reported:
            return
        row = HealthRow(
            source=f"earful:store:{REPORTER}",
            network="earful",
            state="waiting" if waiting else "storing",
            detail=waiting or "",
        )
        with self.store.write() as session:
            record_health([row], reporter=REPORTER, session=session)
        self._storage_reported = True

    def _health_failed(self, exc: Exception) -> None:
        """Health cannot reach the store: say why outside it, so `earful status` tells waiting from stopped."""
        message = describe(exc, self.store.url)
        if self._health_failing_since is None:
            self._health_failing_since = utcnow()
            log.error("could not record the sources' health: %s", message, exc_info=not classify(exc).waits)
        # What the mentions wait for, if they do, says most; else why health itself could not be written.
        self.stats.last_error = self.stats.last_error or message
        write_waiting_note(REPORTER, self.stats.last_error, self._health_failing_since)

    def _health_written(self) -> None:
        if self._health_failing_since is not None:
            self._health_failing_since = None
            clear_waiting_note(REPORTER)

    def _known(self, batch: list[NewMention]) -> set[tuple[str, str]]:
        with self.store.read() as session:
            return known_mentions([(m.network, m.native_id) for m in batch], session=session)

    def _contacts(self, batch: list[NewMention]) -> list[Contact]:
        if not batch:
            return []
        with self.store.read() as session:
            return contacts(batch, session=session)

    def _deliver_alerts(self) -> None:
        with self._alerts_busy:
            try:
                report = deliver_pending(self.store, self.alert_settings)
            except Exception as exc:
                self.stats.last_error = describe(exc, self.store.url)
                if not classify(exc).waits:
                    log.exception("could not deliver alerts: %s", self.stats.last_error)
                return
            self.stats.alerts_delivered += report.delivered
            self._next_alert_attempt = report.next_attempt_at
