"""Reconciliation, the supervisor's timer for streams that stay open but stop telling everything.

A stream can keep its connection up (keep-alives, pings) and still drop posts: every one of them (a live but
silent stream), or some while delivering others. Neither a read timeout nor the stall watchdog sees that, and a
backfill runs only on reconnect. So the supervisor's watchdog loop, which already ticks for every source, also
starts each streaming source's `reconcile(ctx)` (`listener.source.Reconciling`) on a thread of its own:

- every `reconcile_every` seconds while the stream is live and carrying events: a stream can drop some;
- and, once it has carried no event for `quiet_after` seconds (keep-alives only), at once and then every
  `quiet_after` seconds while the silence lasts; health says "stream silent ..., reconciling".

Reconciliation is the session's backfill run again: the REST listing read forward from the stored cursor, each
mention delivered with its cursor. Only these complete reads move cursors (listener/source.py), so whatever the
stream dropped or put aside is behind the cursor's next move, never skipped. What reconciliation finds that no
session delivered, and that the stream still has not delivered `lag` seconds later (a post in flight is not a
miss), counts as missed: health says so, and a *silent* stream that missed posts is reconnected, since a new
connection is the usual cure for a live but dead one."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from listener.health import SourceState
from listener.source import Fatal, RateLimited, Reconciling, Refused, SourceError
from store.incoming import NewMention

if TYPE_CHECKING:
    from listener.supervisor import Runner

log = logging.getLogger(__name__)

# A post younger than this may still be on its way down the stream (X's stream runs seconds behind).
IN_FLIGHT_MAX = 30.0
_SESSION, _RECONCILED = "session", "reconciled"


class Seen:
    """Which mentions were handed over lately, and by whom: a session (stream or its backfill) or a
    reconciliation. Shared by every source of a supervisor: one network's search may find what its stream
    delivered (Bluesky's search and Jetstream)."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: tuple[str, str], by: str) -> bool:
        """Note `key` as handed over `by` (a session's mark is never downgraded); True when it is new."""
        with self._lock:
            held = self._items.get(key)
            if held is None or by == _SESSION:
                self._items[key] = by
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return held is None

    def by_session(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return self._items.get(key) == _SESSION

    def session(self, mention: NewMention) -> None:
        self.add((mention.network, mention.native_id), _SESSION)


class ReconcileView:
    """The `SourceContext` a reconciliation gets: the runner's, except that REST calls and budget waits are no
    sign of the stream's life (`alive`, `wait` leave the watchdog alone) and the session's own progress states
    are not the reconciliation's to report."""

    _SESSION_STATES = {
        SourceState.STARTING,
        SourceState.CONNECTED,
        SourceState.BACKFILLING,
        SourceState.LIVE,
        SourceState.POLLING,
    }

    def __init__(self, runner: Runner, seen: Seen, sleep: Callable[[float], None] | None) -> None:
        self.runner = runner
        self.network = runner.network
        self.source = runner.source
        self.stopping = runner.stopping
        self.seen = seen
        self._sleep = sleep
        self.delivered = 0
        self.found: list[tuple[str, str]] = []  # handed over by no session before
        self.shown: tuple[SourceState, str] | None = None

    def cursor(self) -> str | None:
        return self.runner.cursor()

    def cursor_of(self, key: str) -> str | None:
        return self.runner.cursor_of(key)

    def deliver(self, mention: NewMention, cursor: str | None = None) -> None:
        key = (mention.network, mention.native_id)
        if self.seen.add(key, _RECONCILED):
            self.found.append(key)
        self.runner.hand_over(mention, cursor)
        self.delivered += 1

    def put_aside(self, reason: str, raw: bytes) -> None:
        self.runner.put_aside(reason, raw)

    def alive(self) -> None:
        """A REST answer says nothing about the stream."""

    def event(self) -> None:
        """Nor does a page of results."""

    def state(self, state: SourceState, detail: str = "", *, until: float | None = None) -> None:
        if state in self._SESSION_STATES:
            return
        self.shown = (state, detail)
        self.runner.state(state, detail, until=until)

    def connected(self) -> None:
        """The stream's backoff is the session's business."""

    def wait(self, seconds: float) -> bool:
        if seconds > 0:
            if self._sleep is not None:
                self._sleep(seconds)
            else:
                self.stopping.wait(seconds)
        return self.stopping.is_set()

    def now(self) -> float:
        return self.runner.now()


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def _span(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s".replace(".0 s", " s")


class Reconciler:
    """One streaming source's reconciliations: when they are due, one at a time, and what health says."""

    def __init__(
        self, runner: Runner, source: Reconciling, seen: Seen, sleep: Callable[[float], None] | None
    ):
        self.runner = runner
        self.src = source
        self.seen = seen
        self._sleep = sleep
        self.lag = min(IN_FLIGHT_MAX, source.quiet_after / 2, source.reconcile_every / 2)
        self.running = False
        self.runs = 0
        self.missed = 0  # over the source's life: what the stream dropped and reconciliation stored
        self.last: float | None = None
        self.not_before: float | None = None
        self.silent_since: float | None = None
        self.warned = False
        self._pending: list[tuple[float, int, bool, list[tuple[str, str]]]] = []
        self._thread: threading.Thread | None = None

    # -- the watchdog's tick ----------------------------------------------------------------------------------

    def check(self, now: float) -> bool:
        """Start a reconciliation when one is due; settle what earlier ones found. True when one started."""
        self._settle(now)
        r = self.runner
        if self.running or not r.in_session or r.live_at is None or r.stopping.is_set():
            return False
        if self.not_before is not None and now < self.not_before:
            return False
        base = max(r.live_at, self.last or r.live_at)
        quiet_since = max(r.live_at, r.last_data or r.live_at)
        silent = now - quiet_since >= self.src.quiet_after
        every = self.src.quiet_after if silent else self.src.reconcile_every
        if now - base < every:
            return False
        if silent and self.silent_since is None:
            self.silent_since = quiet_since
            r.state(SourceState.LIVE, self._silence())
        self.running = True
        session = r.sessions
        self._thread = threading.Thread(
            target=self._run, args=(session,), name=f"earful-reconcile-{r.source}", daemon=True
        )
        self._thread.start()
        return True

    def heard(self) -> None:
        """The stream carried an event again (its own thread)."""
        if self.silent_since is not None:
            self.silent_since = None
            self.runner.state(SourceState.LIVE, "events flowing again after a silence")

    def session_ended(self) -> None:
        self.silent_since = None

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- one reconciliation (its own thread) ------------------------------------------------------------------

    def _run(self, session: int) -> None:
        r = self.runner
        before = (r.health_state, r.health_detail, r.health_until)
        view = ReconcileView(r, self.seen, self._sleep)
        try:
            self.src.reconcile(view)
        except SourceError as exc:
            self._failed(exc, session)
            return
        except Exception as exc:  # a bug in one network's reconciliation must not end the timer
            r.unexpected(exc, "reconciliation")
            self._failed(SourceError(f"unexpected {type(exc).__name__}: {exc}"), session)
            return
        finally:
            self.last = r.now()
            self.runs += 1
            self.running = False
        self.not_before = None
        current = r.sessions == session and r.in_session
        if current and view.shown is not None and view.shown[0] == SourceState.RATE_LIMITED:
            # The budget wait is over: the stream's own state again.
            if (r.health_state, r.health_detail) == view.shown:
                r.state(before[0], before[1], until=before[2])
        silent = self.silent_since is not None
        self._pending.append((r.now() + self.lag, session, silent, view.found))
        log.debug("%s: reconciled, %d delivered, %d new", r.source, view.delivered, len(view.found))

    def _failed(self, error: SourceError, session: int) -> None:
        r = self.runner
        now = r.now()
        if isinstance(error, RateLimited | Refused) and error.until is not None:
            self.not_before = error.until
        elif isinstance(error, Fatal):
            self.not_before = now + max(self.src.reconcile_every, self.src.quiet_after)
        if r.sessions == session and r.in_session:
            self.warned = True
            r.state(SourceState.WARNING, f"reconciliation failed, the stream goes on: {error.reason}")

    def _settle(self, now: float) -> None:
        """What reconciliation found and the stream has still not delivered, `lag` seconds on, was missed."""
        due = [p for p in self._pending if p[0] <= now]
        if not due:
            return
        self._pending = [p for p in self._pending if p[0] > now]
        r = self.runner
        for _, session, silent, found in due:
            missed = sum(1 for key in found if not self.seen.by_session(key))
            self.missed += missed
            if r.sessions != session or not r.in_session:
                continue
            still_silent = silent and self.silent_since is not None
            if missed and still_silent:
                r.end_session(
                    f"{self._silence(reconciling=False)}, and {missed} mentions were posted meanwhile "
                    "(reconciliation stored them); reconnecting"
                )
            elif missed:
                self.warned = True
                r.state(
                    SourceState.WARNING,
                    f"the stream dropped {missed} mentions that reconciliation found and stored "
                    f"(reconciling every {_span(self.src.reconcile_every)})",
                )
            elif self.warned:
                self.warned = False
                r.state(SourceState.LIVE, "reconciled: the stream missed nothing since")

    def _silence(self, *, reconciling: bool = True) -> str:
        since = self.silent_since if self.silent_since is not None else self.runner.now()
        text = (
            f"stream silent since {_at(since)} (keep-alives only, no event for {_span(self.src.quiet_after)})"
        )
        return (
            f"{text}; reconciling from the cursor every {_span(self.src.quiet_after)}"
            if reconciling
            else text
        )
