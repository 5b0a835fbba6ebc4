"""The pipeline: collectors -> bus -> micro-batched classification -> store -> alerts.

One code path for `earful serve`, `earful demo` and the tests. Collectors block on their network clients, so each
runs in a thread and publishes to the bus; everything after the bus runs on one asyncio loop, with the model and
the database each in their own single-thread executor (one writer, one model: no contention, batches in order).
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

from sqlalchemy.exc import OperationalError

from earful.alerting import AlertClock, ConfigWatcher
from earful.settings import Settings
from earful.sources import SourceWatch, build_collectors, health_key
from listener.bus import Bus, InProcessBus
from listener.health import HealthEvent
from nlp.batching import next_batch
from responders.alerts import AlertSettings, queue_alerts
from responders.delivery import deliver_pending
from store import Store
from store.contacts import Contact, contacts
from store.engine import describe_unavailable
from store.incoming import NewMention, ScoredMention, Scores
from store.mentions import SaveResult, get_cursor, known_mentions, save_mentions
from store.quarantine import put_aside

if TYPE_CHECKING:
    from nlp import Classification, Classifier

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

    def _note_error(self, message: str) -> None:
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
        except OperationalError as exc:
            log.error("could not keep a bad %s event aside (%s): %s", network, reason, exc)

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
                consumer = asyncio.create_task(self._consume(classifier, stop))
                self.clock.attach(classifier)
                tasks.append(asyncio.create_task(self._retry_alerts(stop)))
                tasks.append(asyncio.create_task(self.clock.run(stop)))
            self.ready.set()
            await stop.wait()
            await asyncio.gather(*tasks)
        finally:
            for collector in self.collectors:
                collector.stop()
            for thread in threads:
                await loop.run_in_executor(None, thread.join, 10)
            await self.bus.close()
            try:
                # The final state of every source (stopped), so `earful status` does not show it running.
                await loop.run_in_executor(self._db, self.watch.publish)
            except OperationalError as exc:
                log.error("could not record the sources' final state: %s", exc)
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

    async def _consume(self, classifier: Classifier, stop: asyncio.Event) -> None:
        assert self.bus is not None
        nlp = self.settings.nlp
        while True:
            batch = await self.bus.next_batch(max_items=nlp.batch_size, max_wait=nlp.batch_ms / 1000)
            for reason, raw in batch.rejected:
                await asyncio.get_running_loop().run_in_executor(
                    self._db, self.quarantine, "bus", self.settings.bus.subject, reason, raw
                )
            if batch.mentions:
                if await self._process(batch.mentions, classifier, stop):
                    await batch.ack()
                else:
                    await batch.nak()
            elif batch.rejected:
                await batch.ack()
            if batch.ended:
                return

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
        except OperationalError:
            known = set()
        fresh = [m for m in batch if (m.network, m.native_id) not in known]
        try:
            history = await loop.run_in_executor(self._db, self._contacts, fresh)
        except OperationalError as exc:
            # Urgency without the customer's history beats no urgency: the write below waits for the database.
            log.warning("scoring %s mentions without their customers' history: %s", len(fresh), exc)
            history = [Contact() for _ in fresh]
        scored = await loop.run_in_executor(self._model, self._classify, classifier, fresh, history)
        self.stats.classified += len(scored)
        scored += [ScoredMention(mention=m) for m in batch if (m.network, m.native_id) in known]
        result = await self._write_until_done(scored, stop)
        if result is None:
            return False
        now = time.time()
        self.stats.stored += len(result.stored)
        self.stats.duplicates += result.duplicates
        self.stats.rejected += len(result.rejected)
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
                checks += 1
                if checks * every >= 60 or stop.is_set():
                    checks = 0
                    queued = await loop.run_in_executor(self._db, self.watch.check_silence)
                    if queued and not self._alerts_busy.locked():
                        loop.run_in_executor(self._alerts, self._deliver_alerts)
            except OperationalError as exc:
                self.stats.last_error = describe_unavailable(self.store.url, exc)
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass

    def _known(self, batch: list[NewMention]) -> set[tuple[str, str]]:
        with self.store.read() as session:
            return known_mentions([(m.network, m.native_id) for m in batch], session=session)

    def _contacts(self, batch: list[NewMention]) -> list[Contact]:
        if not batch:
            return []
        with self.store.read() as session:
            return contacts(batch, session=session)

    def _classify(
        self, classifier: Classifier, batch: list[NewMention], history: list[Contact] | None = None
    ) -> list[ScoredMention]:
        """Score a batch; `history` (from `_contacts`, one per mention) tells urgency how often each customer
        already wrote in the thread and the tier on their record."""
        from nlp import ClassifyInput

        if not batch:
            return []

        inputs = [
            ClassifyInput(
                text=m.text,
                followers=m.author.followers,
                prior_contacts=h.prior_contacts,
                customer_tier=h.customer_tier,
            )
            for m, h in zip(batch, history or [Contact() for _ in batch], strict=True)
        ]
        results: list[Classification | None]
        try:
            results = list(classifier.classify(inputs))
        except Exception:
            log.exception("classifying a batch of %s failed; retrying one by one", len(batch))
            results = []
            for item in inputs:
                try:
                    results.extend(classifier.classify([item]))
                except Exception:
                    log.exception("could not classify one mention; storing it unscored")
                    results.append(None)
        return [ScoredMention(mention=m, scores=_scores(m, r)) for m, r in zip(batch, results, strict=True)]

    async def _write_until_done(self, scored: list[ScoredMention], stop: asyncio.Event) -> SaveResult | None:
        """Write the batch, waiting out a database that is down.

        Given up only at shutdown: the source cursors did not move past these mentions, so the next start
        backfills them from the network.
        """
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                result = await loop.run_in_executor(self._db, self._write, scored)
                self.stats.last_error = None
                return result
            except OperationalError as exc:
                self.stats.last_error = describe_unavailable(self.store.url, exc)
                log.error(
                    "%s Retrying in %.0fs; %s mentions wait in memory.",
                    self.stats.last_error,
                    delay,
                    len(scored),
                )
                if stop.is_set():
                    log.error(
                        "stopping with %s mentions not stored; backfill fetches them next start", len(scored)
                    )
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.pipeline.write_retry_max_seconds)

    def _write(self, scored: list[ScoredMention]) -> SaveResult:
        with self.store.write() as session:
            result = save_mentions(scored, session=session, sla=self.settings.sla.budgets())
            for item, reason in result.rejected:
                put_aside(
                    item.mention.network,
                    item.mention.source or "pipeline",
                    reason,
                    item.mention.model_dump_json().encode(),
                    session=session,
                )
            # Firings are kept even with nobody subscribed: `earful alerts history` and the desk show them.
            self.stats.alerts_queued += len(
                queue_alerts(result.stored, session=session, settings=self.alert_settings)
            )
        return result

    def _deliver_alerts(self) -> None:
        with self._alerts_busy:
            try:
                report = deliver_pending(self.store, self.alert_settings)
            except OperationalError as exc:
                self.stats.last_error = describe_unavailable(self.store.url, exc)
                return
            self.stats.alerts_delivered += report.delivered
            self._next_alert_attempt = report.next_attempt_at


def _scores(mention: NewMention, result: Classification | None) -> Scores:
    if result is None:
        return Scores()
    scores = Scores(
        sentiment=result.sentiment,
        sentiment_probs=result.sentiment_probs,
        complaint=result.complaint,
        severity=result.severity,
        severity_label=result.severity_label,
        urgency=result.urgency,
        urgency_tier=result.tier,
        entities=result.entities,
        explanation=result.explanation,
        risks=result.risks,
    )
    if mention.is_own:
        # The brand's own posts are scored for the record but never compete for a responder's attention.
        scores.urgency, scores.urgency_tier = 0, "low"
        scores.explanation = []  # nothing pushed an urgency of 0 up; the risks stay, as facts about the text
    return scores
