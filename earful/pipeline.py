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

from earful.settings import Settings
from listener.bus import InProcessBus
from listener.health import HealthEvent
from nlp.batching import next_batch
from responders.alerts import deliver_pending, queue_alerts
from store import Store
from store.engine import describe_unavailable
from store.incoming import NewMention, ScoredMention, Scores
from store.mentions import SaveResult, get_cursor, save_mentions
from store.quarantine import put_aside

if TYPE_CHECKING:
    from nlp import Classification, Classifier

log = logging.getLogger(__name__)

# Marks the end of the stream on the bus at shutdown.
_END: Any = object()


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.stats = PipelineStats()
        self._classifier_factory = classifier_factory
        self._collector_factory = collectors if collectors is not None else build_collectors
        self._model = ThreadPoolExecutor(1, thread_name_prefix="earful-model")
        self._db = ThreadPoolExecutor(1, thread_name_prefix="earful-db")
        self._alerts = ThreadPoolExecutor(1, thread_name_prefix="earful-alerts")
        self._alerts_busy = threading.Lock()
        self._next_alert_attempt: datetime | None = None
        self.bus: InProcessBus | None = None
        self.ready = threading.Event()
        self.collectors: list[Any] = []
        # The latest state each source reported: what `earful status` and the desk's title bar show.
        self.health: dict[str, HealthEvent] = {}

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
        self.health[f"{event.network}:{event.source}"] = event

    def cursor(self, source: str) -> str | None:
        with self.store.read() as session:
            return get_cursor(source, session=session)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then store everything the collectors handed over before they stopped."""
        loop = asyncio.get_running_loop()
        self.bus = InProcessBus(loop)
        self.collectors = self._collector_factory(self)
        threads = [
            threading.Thread(target=c.run, name=f"earful-{type(c).__name__}", daemon=True)
            for c in self.collectors
        ]
        for thread in threads:
            thread.start()
        try:
            classifier = await loop.run_in_executor(self._model, self._load_classifier)
            self.stats.ready_at = time.time()
            self.ready.set()
            consumer = asyncio.create_task(self._consume(classifier, stop))
            retries = asyncio.create_task(self._retry_alerts(stop))
            await stop.wait()
            await retries
        finally:
            for collector in self.collectors:
                collector.stop()
            for thread in threads:
                await loop.run_in_executor(None, thread.join, 10)
        # Queued behind every mention the collectors published, so the consumer drains them all first.
        self.bus.queue.put_nowait(_END)
        try:
            await consumer
        finally:
            self._model.shutdown(wait=False)
            self._alerts.shutdown(wait=True)
            self._db.shutdown(wait=True)

    async def _consume(self, classifier: Classifier, stop: asyncio.Event) -> None:
        assert self.bus is not None
        nlp = self.settings.nlp
        while True:
            batch = await next_batch(self.bus.queue, max_items=nlp.batch_size, max_wait=nlp.batch_ms / 1000)
            end = _END in batch
            mentions = [m for m in batch if m is not _END]
            if mentions:
                await self._process(mentions, classifier, stop)
            if end:
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

    async def _process(self, batch: list[NewMention], classifier: Classifier, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        scored = await loop.run_in_executor(self._model, self._classify, classifier, batch)
        self.stats.classified += len(scored)
        result = await self._write_until_done(scored, stop)
        if result is None:
            return
        now = time.time()
        self.stats.stored += len(result.stored)
        self.stats.duplicates += result.duplicates
        self.stats.rejected += len(result.rejected)
        ready = self.stats.ready_at or now
        self.stats.latencies.extend(
            now - m.received_at.timestamp() for m in result.stored if m.received_at.timestamp() >= ready
        )
        if self.settings.alerts.subscribers and not self._alerts_busy.locked():
            loop.run_in_executor(self._alerts, self._deliver_alerts)

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

    def _classify(self, classifier: Classifier, batch: list[NewMention]) -> list[ScoredMention]:
        from nlp import ClassifyInput

        inputs = [ClassifyInput(text=m.text, followers=m.author.followers) for m in batch]
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
            if self.settings.alerts.subscribers:
                self.stats.alerts_queued += len(
                    queue_alerts(result.stored, session=session, settings=self.settings.alerts)
                )
        return result

    def _deliver_alerts(self) -> None:
        with self._alerts_busy:
            try:
                report = deliver_pending(self.store, self.settings.alerts)
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
    )
    if mention.is_own:
        # The brand's own posts are scored for the record but never compete for a responder's attention.
        scores.urgency, scores.urgency_tier = 0, "low"
    return scores


def build_collectors(pipeline: Pipeline) -> list[Any]:
    settings = pipeline.settings
    collectors: list[Any] = []
    if settings.x.enabled and settings.brands:
        from listener.x import XCollector

        collectors.append(
            XCollector(
                settings.x,
                settings.brands,
                sink=pipeline.publish,
                put_aside=pipeline.quarantine,
                get_cursor=pipeline.cursor,
                on_health=pipeline.note_health,
            )
        )
    return collectors
