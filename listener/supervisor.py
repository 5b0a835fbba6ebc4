"""One supervisor for every source: reconnect with each network's backoff, abort stalled connections, report health.

Each source runs its sessions on its own thread (the network clients block); one watchdog thread checks them
all. Clock and sleep are injected, so the backoff and watchdog tests run in milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from listener.health import HealthCallback, Reporter, SourceState
from listener.source import Backoff, ConnectionLost, Fatal, RateLimited, Source, SourceError
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

    # -- SourceContext ----------------------------------------------------------------------------------------

    def cursor(self) -> str | None:
        return self._get_cursor(self.source)

    def cursor_of(self, key: str) -> str | None:
        return self._get_cursor(key)

    def deliver(self, mention: NewMention, cursor: str | None = None) -> None:
        if cursor is not None:
            mention.source, mention.cursor = self.source, cursor
        self._sink(mention)
        now = self._clock()
        with self._lock:
            self.delivered += 1
            self.last_event = now
            self.last_alive = now

    def put_aside(self, reason: str, raw: bytes) -> None:
        try:
            self._put_aside(self.network, self.source, reason, raw)
        except Exception:  # keeping the bad item aside must never stop the good ones
            log.exception("%s: could not keep a bad event aside (%s)", self.source, reason)

    def alive(self) -> None:
        self.last_alive = self._clock()

    def state(self, state: SourceState, detail: str = "", *, until: float | None = None) -> None:
        self.health_state, self.health_detail, self.health_until = state, detail, until
        self._report(self.source, state, detail, until=_at(until))

    def connected(self) -> None:
        self.backoff.reset()
        self.alive()

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
            if isinstance(error, RateLimited):
                self.state(SourceState.RATE_LIMITED, error.reason, until=until)
            elif isinstance(error, Fatal):
                self.state(SourceState.ERROR, error.reason, until=until)
            elif error is not None:
                self.state(SourceState.RETRYING, error.reason, until=until)
            if self.wait(delay):
                break
        self.state(SourceState.STOPPED)

    def _one_session(self) -> SourceError | None:
        self.alive()
        self.stalled = False
        self.in_session = True
        try:
            self.src.session(self)
            error: SourceError | None = None
        except SourceError as exc:
            error = exc
        except Exception as exc:  # a bug in one network's code must not end its source for good
            log.exception("%s: the session failed unexpectedly", self.source)
            error = ConnectionLost(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self.in_session = False
        if self.stalled:
            return ConnectionLost(f"stalled: nothing received for {_seconds(self.src.stall_after)} s")
        return error

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
    ) -> None:
        names = [s.name for s in sources]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise UserError(f"two sources share the name {', '.join(duplicated)}; cursors would collide")
        self.stopping = threading.Event()
        self.watchdog_every = watchdog_every
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
        for thread in self._threads:
            thread.join(timeout=10)

    def check_stalls(self) -> list[str]:
        return [runner.source for runner in self.runners if runner.check_stall()]

    def stop(self) -> None:
        self.stopping.set()
        for runner in self.runners:
            try:
                runner.src.abort()
            except Exception:
                log.exception("%s: abort on stop failed", runner.source)

    def health(self) -> list[SourceHealth]:
        return [runner.health() for runner in self.runners]
