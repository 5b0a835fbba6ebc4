"""Storing classified batches so that nothing stops the stream: the pipeline's side of the store.

The rule (store.errors): a database that is down, full or locked is waited out, with the batch in memory; a
deadlock or serialisation failure is retried at once; anything about a row (or not understood at all) makes the
batch go again one mention per savepoint, and what is still refused is put aside in quarantine with its reason.
A batch is done (and may be acknowledged to the bus) only once every mention in it is confirmed: its row is
in the store after the commit, or it is in quarantine.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session

from responders.alerts import AlertSettings, queue_alerts
from store import Store
from store.errors import Fault, cause, classify, describe
from store.incoming import NewMention, ScoredMention
from store.mentions import SaveResult, known_mentions, save_mentions
from store.quarantine import put_aside

log = logging.getLogger(__name__)

# Deadlocks and serialisation failures in a row before the write is treated like a locked database.
MAX_CONFLICTS = 10
# Times a mention missing after its commit is written again before it is put aside (it never happens, but a
# batch must not be acknowledged on a belief).
MAX_REWRITES = 3


@dataclass
class Written:
    result: SaveResult = field(default_factory=SaveResult)
    alerts_queued: int = 0


class BatchWriter:
    """Runs its database work on the pipeline's database thread (`db`)."""

    def __init__(
        self,
        store: Store,
        db: Executor,
        *,
        sla: Callable[[], Mapping[str, timedelta]],
        alerts: Callable[[], AlertSettings],
        on_error: Callable[[str | None], None],
        retry_max_seconds: float,
    ) -> None:
        self.store = store
        self._db = db
        self._sla = sla
        self._alerts = alerts
        self._on_error = on_error
        self._retry_max = retry_max_seconds
        # What the writer waits for (the database down, full or locked), in a few words, while it does: `earful
        # status` shows it.
        self.waiting: str | None = None

    async def write(self, scored: list[ScoredMention], stop: asyncio.Event) -> Written | None:
        """Store the batch, waiting out a database that is down. None only when stopping with it still down:
        the source cursors did not move past these mentions, so the next start backfills them."""
        loop = asyncio.get_running_loop()
        url = self.store.url
        done, pending = Written(), scored
        delay, mode, conflicts, rewrites = 0.5, "batch", 0, 0
        while pending:
            if rewrites > MAX_REWRITES:
                reason = "written, but not found in the store after the commit; kept aside instead"
                await loop.run_in_executor(
                    self._db, self.put_batch_aside, [i.mention for i in pending], reason
                )
                done.result.rejected += [(item, reason) for item in pending]
                break
            try:
                if mode == "each":
                    written = await loop.run_in_executor(self._db, self._write_each, pending)
                else:
                    written = await loop.run_in_executor(self._db, self._write, pending, mode == "isolate")
                missing = await loop.run_in_executor(self._db, self._unconfirmed, pending, written.result)
            except Exception as exc:
                fault = classify(exc)
                if fault is Fault.ROW and mode != "each":
                    log.warning(
                        "storing a batch of %s failed (%s); storing %s",
                        len(pending),
                        cause(exc, url),
                        "its mentions one by one" if mode == "batch" else "each in a transaction of its own",
                        exc_info=True,
                    )
                    mode = "isolate" if mode == "batch" else "each"
                    continue
                if fault is Fault.CONFLICT and conflicts < MAX_CONFLICTS:
                    conflicts += 1
                    log.info("retrying a batch after a conflict with another writer: %s", cause(exc, url))
                    await asyncio.sleep(random.uniform(0.01, 0.05 * conflicts))
                    continue
                message = describe(exc, url, fault)
                self.waiting = f"for {fault.waiting_for} ({cause(exc, url)})"
                self._on_error(message)
                log.error("%s Retrying in %.1fs; %s mentions wait in memory.", message, delay, len(pending))
                if stop.is_set():
                    log.error(
                        "stopping with %s mentions not stored; backfill fetches them next start", len(pending)
                    )
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            _merge(done, written)
            pending = missing
            if pending:
                rewrites += 1
                log.error(
                    "%s mentions were not in the store after the commit; writing them again", len(pending)
                )
        rejected = done.result.rejected
        if rejected:
            # Put aside, not lost, but worth a look: the first reason says what the database did not like.
            self._on_error(f"{len(rejected)} mention(s) kept aside in quarantine: {rejected[0][1]}")
        elif self.waiting is not None:
            self._on_error(None)  # the database is back
        self.waiting = None
        return done

    def _write(self, scored: list[ScoredMention], isolate: bool) -> Written:
        written = Written()
        with self.store.write() as session:
            written.result = save_mentions(scored, session=session, sla=self._sla(), isolate=isolate)
            for item, reason in written.result.rejected:
                _put_aside(item.mention, reason, session=session)
            settings = self._alerts()
            # Firings are kept even with nobody subscribed: `earful alerts history` and the desk show them.
            # Thread context (history fetched by the collectors) is stored, never alerted on.
            if not isolate:
                written.alerts_queued = len(
                    queue_alerts(written.result.news, session=session, settings=settings)
                )
            else:
                try:
                    with session.begin_nested():
                        queued = queue_alerts(written.result.news, session=session, settings=settings)
                    written.alerts_queued = len(queued)
                except Exception as exc:
                    if classify(exc).waits:
                        raise
                    # The mentions matter more than their alerts: stored, with the failure in the log.
                    log.exception("could not queue the alerts of %s mentions", len(written.result.stored))
        return written

    def _write_each(self, scored: list[ScoredMention]) -> Written:
        done = Written()
        for item in scored:
            try:
                written = self._write([item], True)
            except Exception as exc:
                fault = classify(exc)
                if fault.waits:
                    raise  # the database, not this mention: the caller waits, and what is stored stays stored
                reason = describe(exc, self.store.url, fault)
                try:
                    with self.store.write() as session:
                        _put_aside(item.mention, reason, session=session)
                except Exception as aside:
                    if classify(aside).waits:
                        raise
                    # Nowhere left in the database for it: the log keeps the mention whole.
                    log.error(
                        "could not keep a mention aside (%s): %s", reason, item.mention.model_dump_json()
                    )
                written = Written(SaveResult(rejected=[(item, reason)]))
            _merge(done, written)
        return done

    def _unconfirmed(self, scored: list[ScoredMention], result: SaveResult) -> list[ScoredMention]:
        """The mentions whose rows are not in the store after the commit (none, unless something is wrong)."""
        aside = {id(item) for item, _ in result.rejected}
        expected = [item for item in scored if id(item) not in aside]
        with self.store.read() as session:
            found = known_mentions(
                [(i.mention.network, i.mention.native_id) for i in expected], session=session
            )
        return [item for item in expected if (item.mention.network, item.mention.native_id) not in found]

    def put_batch_aside(self, mentions: list[NewMention], reason: str) -> None:
        """The last resort for a batch nothing else could handle: every mention kept aside, with the reason."""
        with self.store.write() as session:
            for mention in mentions:
                _put_aside(mention, reason, session=session)


def _put_aside(mention: NewMention, reason: str, *, session: Session) -> None:
    put_aside(
        mention.network,
        mention.source or "pipeline",
        reason,
        mention.model_dump_json().encode(),
        session=session,
    )


def _merge(into: Written, written: Written) -> None:
    into.result.stored += written.result.stored
    into.result.duplicates += written.result.duplicates
    into.result.rejected += written.result.rejected
    into.result.context |= written.result.context
    into.alerts_queued += written.alerts_queued
