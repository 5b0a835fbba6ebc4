"""What a collector says about itself, so a desk can show each source's state instead of failing silently."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from store.clock import utcnow

log = logging.getLogger(__name__)


class SourceState(StrEnum):
    STARTING = "starting"
    CONNECTED = "connected"  # the stream is open; a backfill may still be closing the gap
    BACKFILLING = "backfilling"
    LIVE = "streaming"  # connected and nothing missed since the last stored cursor
    POLLING = "polling"  # no stream (none offered, or none allowed): asking every few seconds, caught up
    RATE_LIMITED = "rate-limited"  # waiting for the network's reset time (HealthEvent.until)
    WARNING = "warning"  # something worth a look that did not stop collection
    RETRYING = "retrying"
    ERROR = "error"  # needs a person: bad credentials, invalid rules, a truncated backfill
    STOPPED = "stopped"
    DISABLED = "disabled"


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
    """Logs every event and hands it to the callback, whose own failure never reaches the collector."""

    _LEVELS = {
        SourceState.ERROR: logging.ERROR,
        SourceState.WARNING: logging.WARNING,
        SourceState.RETRYING: logging.WARNING,
        SourceState.RATE_LIMITED: logging.WARNING,
    }

    def __init__(self, network: str, callback: HealthCallback | None) -> None:
        self.network = network
        self.callback = callback

    def __call__(
        self, source: str, state: SourceState, detail: str = "", *, until: datetime | None = None
    ) -> None:
        suffix = f" ({detail})" if detail else ""
        log.log(self._LEVELS.get(state, logging.INFO), "%s %s: %s%s", self.network, source, state, suffix)
        if self.callback is None:
            return
        try:
            self.callback(HealthEvent(self.network, source, state, detail, until=until))
        except Exception:
            log.exception("the health callback failed; collection goes on")
