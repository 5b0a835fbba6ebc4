"""One supervisor for every source: reconnect with each network's backoff, abort stalled connections, reconcile
streams on a timer (listener/reconcile.py), report health.

Each source runs its sessions on its own thread (the network clients block); one watchdog thread checks them
all and starts their reconciliations. Clock and sleep are injected, so the backoff, watchdog and reconcile
tests run in milliseconds.

An outage is told once: the first failure of a kind is logged, the same failure again (each reconnect of a
45 s outage) only at DEBUG, and the recovery once. A bug of ours gets its traceback the first time only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from listener.context import Known, Memory, fetcher_for
from listener.health import HealthCallback, Reporter, SourceState, printable
from listener.reconcile import Reconciler, Seen
from listener.source import Backoff, ConnectionLost, Fatal, RateLimited, Reconciling, Source, SourceError
from store.errors import UserError
from store.incoming import NewMention

log = logging.getLogger(__name__)

Sink = Callable[[NewMention], None]
PutAside = Callable[[str, str, str, bytes], None]  # network, source, reason, raw
GetCursor = Callable[[str], str | None]


@dataclass
class SourceHealth:
    """The latest of one source, for the desk's status line and `earful status`."""

    network: str
    source: str
    state: SourceState
    detail: str
    until: datetime | None
    last_event_at: datetime | None
    last_alive_at: datetime | None
    delivered: int
    reconnects: int
    # Streams only: reconciliations run, and the mentions they found that the stream had dropped.
    reconciled: int = 0
    missed: int = 0


def _seconds(value: float) -> str:
    """45 -> "45", 0.5 -> "0.5": whole seconds where that is precise enough, as a person reads them."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class Runner:
    """Runs one source's sessions back to back, and is the `SourceContext` each session reports to."""

    def __init__(
        self,
        source: Source,
        *,
        sink: Sink,
        put_aside: PutAside,
        get_cursor: GetCursor,
        on_health: HealthCallback | None,
        stopping: threading.Event,
        clock: Callable[[], float],
        sleep: Callable[[float], None] | None,
        seen: Seen | None = None,
        memory: Memory | None = None,
        known: Known | None = None,
    ) -> None:
        self.src = source
        self.network = source.network
        self.source = source.name
        self.stopping = stopping
        self.backoff = Backoff(source.policy)
        self._sink = sink
        self._put_aside = put_aside
        self._get_cursor = get_cursor
        self._report = Reporter(source.network, on_health)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.in_session = False
        self.waiting = False
        self.stalled = False
        self.last_alive: float | None = None
        self.last_event: float | None = None
        self.delivered = 0
        self.reconnects = 0
        self.health_state = SourceState.STARTING
        self.health_detail = ""
        self.health_until: float | None = None
        # The stream's own events (not keep-alives), and when this session first reported LIVE.
        self.last_data: float | None = None
        self.live_at: float | None = None
        self.sessions = 0
        self.ended_reason: str | None = None
        # The failure the last session ended with, while it repeats: (kind, reason), since when, how often.
        self._failure: tuple[type[SourceError], str] | None = None
        self._failed_since: float | None = None
        self._failures = 0
        self._unexpected: str | None = None
        self.seen = seen or Seen()
        self.reconciler = (
            Reconciler(self, source, self.seen, sleep) if isinstance(source, Reconciling) else None
        )
        # What the mentions reply to, fetched beside the session (listener/context.py).
        self.context_fetcher = fetcher_for(self, source, memory=memory or Memory(), known=known, sleep=sleep)

    # -- SourceContext ----------------------------------------------------------------------------------------

    def cursor(self) -> str | None:
        return self.cursor_of(self.source)

    def cursor_of(self, key: str) -> str | None:
        try:
            return self._get_cursor(key)
        except SourceError:
            raise
        except Exception as exc:  # the store is down (or full): wait for it like for a network, quietly
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConnectionLost(
                f"could not read the stored cursor {key} ({type(exc).__name__}: {printable(first, 200)}); "
                "waiting for the database"
            ) from None

    def deliver(self, mention: NewMention, cursor: str | None = None) -> None:
        self.seen.session(mention)
        self.hand_over(mention, cursor)
        self.last_alive = self._clock()

    def hand_over(self, mention: NewMention, cursor: str | None) -> None:
        """Deliver for a session or a reconciliation (which must not count as the stream's life)."""
        if cursor is not None:
            mention.source, mention.cursor = self.source, cursor
        self._sink_or_wait(mention)
        now = self._clock()
        with self._lock:
            self.delivered += 1
            self.last_event = now
        if self.context_fetcher is not None:
            self.context_fetcher.offer(mention)

    def hand_over_context(self, mention: NewMention) -> None:
        """Deliver a post fetched as thread context: no cursor, and no count as this source's mentions (a
        source silent for an hour is silent, whatever history its last mention brought)."""
        self._sink_or_wait(mention)

    def _sink_or_wait(self, mention: NewMention) -> None:
        try:
            self._sink(mention)
        except RuntimeError:
            raise  # a stopped pipeline: the session ends
        except Exception as exc:
            # The pipeline's store or bus is down: nothing moved, so wait like for a network.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConnectionLost(
                f"could not hand {mention.native_id} to the pipeline ({type(exc).__name__}: "
                f"{printable(first, 200)}); waiting for it"
            ) from None

    def put_aside(self, reason: str, raw: bytes) -> None:
        try:
            self._put_aside(self.network, self.source, reason, raw)
        except Exception:  # keeping the bad item aside must never stop the good ones
            log.exception("%s: could not keep a bad event aside (%s)", self.source, printable(reason))

    def alive(self) -> None:
        self.last_alive = self._clock()

    def event(self) -> None:
        self.last_data = self.last_alive = self._clock()
        if self.reconciler is not None:
            self.reconciler.heard()

    def state(self, state: SourceState, detail: str = "", *, until: float | None = None) -> None:
        if state == SourceState.LIVE and self.in_session and self.live_at is None:
            self.live_at = self._clock()
        # Each reconnect attempt of an outage goes through the same states: the outage is already told.
        quiet = self._failure is not None and state in (
            SourceState.STARTING,
            SourceState.CONNECTED,
            SourceState.BACKFILLING,
        )
        self._show(state, detail, until=until, quiet=quiet)

    def _show(self, state: SourceState, detail: str, *, until: float | None, quiet: bool = False) -> None:
        detail = printable(detail)
        self.health_state, self.health_detail, self.health_until = state, detail, until
        self._report(self.source, state, detail, until=_at(until), quiet=quiet)

    def connected(self) -> None:
        self.backoff.reset()
        self.alive()
        if self._failure is not None:
            since = self._failed_since if self._failed_since is not None else self._clock()
            log.info(
                "%s: back after %d failed attempt%s over %s s (%s)",
                self.source,
                self._failures,
                "" if self._failures == 1 else "s",
                _seconds(max(0.0, self._clock() - since)),
                printable(self._failure[1], 200),
            )
        self._failure, self._failed_since, self._failures, self._unexpected = None, None, 0, None

    def wait(self, seconds: float) -> bool:
        if seconds > 0:
            # A deliberate wait (a poll interval, a rate-limit pause) is silence the watchdog must not punish.
            self.waiting = True
            try:
                if self._sleep is not None:
                    self._sleep(seconds)
                else:
                    self.stopping.wait(seconds)
            finally:
                self.waiting = False
                self.alive()
        return self.stopping.is_set()

    def now(self) -> float:
        return self._clock()

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self) -> None:
        self.state(SourceState.STARTING)
        while not self.stopping.is_set():
            error = self._one_session()
            if self.stopping.is_set():
                break
            self.reconnects += 1
            now = self._clock()
            delay = self.backoff.delay(error, now=now)
            until = now + delay
            if error is None:
                self._failure = None
            else:
                kind = (type(error), error.reason)
                repeated = self._failure == kind
                if not repeated:
                    self._failure, self._failed_since, self._failures = kind, now, 0
                self._failures += 1
                detail = f"{error.reason}; retrying in {_seconds(delay)} s"
                if isinstance(error, RateLimited):
                    state = SourceState.RATE_LIMITED
                elif isinstance(error, Fatal):
                    state = SourceState.ERROR
                else:
                    state = SourceState.RETRYING
                self._show(state, detail, until=until, quiet=repeated)
            if self.wait(delay):
                break
        self.state(SourceState.STOPPED)

    def _one_session(self) -> SourceError | None:
        self.alive()
        self.stalled = False
        self.ended_reason = None
        self.live_at = None
        self.sessions += 1
        self.in_session = True
        try:
            self.src.session(self)
            error: SourceError | None = None
        except SourceError as exc:
            error = exc
        except Exception as exc:  # a bug in one network's code must not end its source for good
            self.unexpected(exc, "the session")
            error = ConnectionLost(f"unexpected {type(exc).__name__}: {printable(exc, 300)}")
        finally:
            self.in_session = False
            if self.reconciler is not None:
                self.reconciler.session_ended()
        if self.stalled:
            return ConnectionLost(f"stalled: nothing received for {_seconds(self.src.stall_after)} s")
        if self.ended_reason is not None:
            return ConnectionLost(self.ended_reason)
        return error

    def unexpected(self, exc: BaseException, what: str) -> None:
        """A bug of ours: its traceback once, the same failure again as one line."""
        key = f"{what}: {type(exc).__name__}: {exc}"
        if key == self._unexpected:
            log.debug("%s: %s failed unexpectedly again: %s", self.source, what, printable(exc, 300))
            return
        self._unexpected = key
        log.exception("%s: %s failed unexpectedly", self.source, what)

    def end_session(self, reason: str) -> None:
        """End the session from another thread (reconciliation found a silent stream dropping posts)."""
        self.ended_reason = reason
        self._show(SourceState.WARNING, reason, until=None)
        try:
            self.src.abort()
        except Exception:
            log.exception("%s: aborting the session failed", self.source)

    def check_reconcile(self) -> bool:
        return self.reconciler is not None and self.reconciler.check(self._clock())

    def check_stall(self) -> bool:
        """Abort the session when nothing has arrived for `stall_after` seconds. True when it did."""
        last = self.last_alive
        if not self.in_session or self.waiting or self.stalled or last is None:
            return False
        silent = self._clock() - last
        if silent < self.src.stall_after:
            return False
        self.stalled = True
        self.state(SourceState.WARNING, f"stalled: nothing received for {_seconds(silent)} s; reconnecting")
        try:
            self.src.abort()
        except Exception:
            log.exception("%s: aborting a stalled connection failed", self.source)
        return True

    def health(self) -> SourceHealth:
        return SourceHealth(
            network=self.network,
            source=self.source,
            state=self.health_state,
            detail=self.health_detail,
            until=_at(self.health_until),
            last_event_at=_at(self.last_event),
            last_alive_at=_at(self.last_alive),
            delivered=self.delivered,
            reconnects=self.reconnects,
            reconciled=self.reconciler.runs if self.reconciler is not None else 0,
            missed=self.reconciler.missed if self.reconciler is not None else 0,
        )


class Supervisor:
    def __init__(
        self,
        sources: Sequence[Source],
        *,
        sink: Sink,
        put_aside: PutAside,
        get_cursor: GetCursor,
        on_health: HealthCallback | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        watchdog_every: float = 1.0,
        known: Known | None = None,
    ) -> None:
        """`known`: which of a network's ids the store has, so thread context stops at what is stored
        (without it, only at what was delivered lately)."""
        names = [s.name for s in sources]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise UserError(f"two sources share the name {', '.join(duplicated)}; cursors would collide")
        self.stopping = threading.Event()
        self.watchdog_every = watchdog_every
        seen = Seen()
        memory = Memory()
        self.runners = [
            Runner(
                source,
                sink=sink,
                put_aside=put_aside,
                get_cursor=get_cursor,
                on_health=on_health,
                stopping=self.stopping,
                clock=clock,
                sleep=sleep,
                seen=seen,
                memory=memory,
                known=known,
            )
            for source in sources
        ]
        self._threads: list[threading.Thread] = []

    def run(self) -> None:
        """Run every source until `stop()`; this thread keeps the watchdog. Blocks."""
        self._threads = [
            threading.Thread(target=runner.run, name=f"earful-{runner.source}", daemon=True)
            for runner in self.runners
        ]
        for thread in self._threads:
            thread.start()
        while not self.stopping.wait(self.watchdog_every):
            self.check_stalls()
            self.check_reconciles()
        for thread in self._threads:
            thread.join(timeout=10)
        for runner in self.runners:
            if runner.reconciler is not None:
                runner.reconciler.join(timeout=5)
            if runner.context_fetcher is not None:
                runner.context_fetcher.join(timeout=5)

    def check_stalls(self) -> list[str]:
        return [runner.source for runner in self.runners if runner.check_stall()]

    def check_reconciles(self) -> list[str]:
        """Start the reconciliations that are due; the names of their sources."""
        started = []
        for runner in self.runners:
            try:
                if runner.check_reconcile():
                    started.append(runner.source)
            except Exception:  # the watchdog must outlive a bug in one source's timer
                log.exception("%s: could not start a reconciliation", runner.source)
        return started

    def stop(self) -> None:
        self.stopping.set()
        for runner in self.runners:
            if runner.context_fetcher is not None:
                runner.context_fetcher.wake()
            try:
                runner.src.abort()
            except Exception:
                log.exception("%s: abort on stop failed", runner.source)

    def health(self) -> list[SourceHealth]:
        return [runner.health() for runner in self.runners]
