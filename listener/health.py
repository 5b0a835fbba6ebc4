"""What a collector says about itself, so a desk can show each source's state instead of failing silently."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from store.clock import utcnow
from store.text import printable as shown_in_terminal

log = logging.getLogger(__name__)

DETAIL_LIMIT = 500


class SourceState(StrEnum):
    STARTING = "starting"
    CONNECTED = "connected"  # the stream is open; a backfill may still be closing the gap
    BACKFILLING = "backfilling"
    LIVE = "streaming"  # connected and nothing missed since the last stored cursor
    POLLING = "polling"  # no stream (none offered, or none allowed): asking every few seconds, caught up
    # A fallback that is idle by design while its network's stream carries everything (Bluesky's search while
    # Jetstream streams): not collecting, and never "silent" for it.
    STANDBY = "standby"
    RATE_LIMITED = "rate-limited"  # waiting for the network's reset time (HealthEvent.until)
    WARNING = "warning"  # something worth a look that did not stop collection
    RETRYING = "retrying"
    ERROR = "error"  # needs a person: bad credentials, invalid rules, a truncated backfill
    STOPPED = "stopped"
    DISABLED = "disabled"


def printable(text: object, limit: int = DETAIL_LIMIT) -> str:
    """`text` safe to write to a log line or a terminal, by the store's one rule (`store.text.printable`): a
    server's error text can never move the cursor, set the window title or write the clipboard. Folded onto one
    line, lone surrogates escaped (a log handler would fail on them), cut to `limit` characters."""
    shown = shown_in_terminal(str(text), one_line=True).encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= limit else shown[: max(limit - 1, 0)] + "…"


@dataclass(frozen=True)
class HealthEvent:
    network: str
    source: str
    state: SourceState
    detail: str = ""
    at: datetime = field(default_factory=utcnow)
    # RATE_LIMITED and RETRYING: when the next attempt is due.
    until: datetime | None = None


HealthCallback = Callable[[HealthEvent], None]


class Reporter:
    """Logs each change of a source's state and hands every event to the callback, whose own failure never
    reaches the collector. The same state with the same detail again (the tenth failed reconnect of one
    outage) is logged at DEBUG only: an outage is one line when it starts and one when it ends."""

    _LEVELS = {
        SourceState.ERROR: logging.ERROR,
        SourceState.WARNING: logging.WARNING,
        SourceState.RETRYING: logging.WARNING,
        SourceState.RATE_LIMITED: logging.WARNING,
    }

    def __init__(self, network: str, callback: HealthCallback | None) -> None:
        self.network = network
        self.callback = callback
        self._logged: dict[str, tuple[SourceState, str]] = {}

    def __call__(
        self,
        source: str,
        state: SourceState,
        detail: str = "",
        *,
        until: datetime | None = None,
        quiet: bool = False,
    ) -> None:
        """`quiet`: part of a change already logged (a reconnect attempt in an outage): DEBUG only."""
        detail = printable(detail)
        repeated = self._logged.get(source) == (state, detail)
        level = logging.DEBUG if quiet or repeated else self._LEVELS.get(state, logging.INFO)
        if level > logging.DEBUG:
            self._logged[source] = (state, detail)
        suffix = f" ({detail})" if detail else ""
        log.log(level, "%s %s: %s%s", self.network, source, state, suffix)
        if self.callback is None:
            return
        try:
            self.callback(HealthEvent(self.network, source, state, detail, until=until))
        except Exception:
            log.exception("the health callback failed; collection goes on")
