"""The alert clock of a running pipeline: window rules every minute, digests, the Monday report, delivery, and
reloading the alert rules when earful.toml (or the secrets file) changes.

Per-mention rules fire inside the ingestion transaction (`responders.alerts.queue_alerts`); everything that
depends on time rather than on one mention runs here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from earful.settings import Settings, SettingsError
from store import Store
from store.clock import utcnow
from store.errors import describe

if TYPE_CHECKING:
    from nlp import Classifier

log = logging.getLogger(__name__)


class ConfigWatcher:
    """Notices an edited configuration (by modification time and size) and loads it; an invalid edit is logged
    with what is wrong and ignored, so a typo never takes the alerts down."""

    def __init__(self, load: Callable[[], Settings], paths: Sequence[Path | None]) -> None:
        self._load = load
        self._paths = [p for p in paths if p is not None]
        self._seen = self._signature()

    def _signature(self) -> tuple[tuple[str, float, int], ...]:
        out = []
        for path in self._paths:
            try:
                info = os.stat(path)
            except OSError:
                out.append((str(path), -1.0, -1))
                continue
            out.append((str(path), info.st_mtime, info.st_size))
        return tuple(out)

    def poll(self) -> Settings | None:
        """New settings if a file changed and still makes valid settings; None otherwise."""
        signature = self._signature()
        if signature == self._seen:
            return None
        self._seen = signature
        try:
            return self._load()
        except SettingsError as exc:
            log.error("the configuration changed but is not valid; the alert rules in force stay: %s", exc)
        except Exception as exc:  # a half-written file mid-save: the next change is read again
            log.error(
                "the configuration changed but could not be read (%s); the alert rules in force stay", exc
            )
        return None


@dataclass
class ClockStats:
    evaluations: int = 0
    fired: int = 0
    updated: int = 0
    reports: int = 0
    reloads: int = 0


class AlertClock:
    """Runs beside the pipeline's consumer. `settings()` always returns the latest valid settings."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        db: ThreadPoolExecutor,
        model: ThreadPoolExecutor,
        deliver: Callable[[], None],
        watcher: ConfigWatcher | None = None,
        every: float | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.stats = ClockStats()
        self._db, self._model = db, model
        self._deliver = deliver
        self._watcher = watcher
        self._every = every
        self._clock = clock
        self._on_error = on_error or (lambda _message: None)
        self._housekeeping = threading.Lock()
        self._classifier: Classifier | None = None

    def attach(self, classifier: Classifier) -> None:
        """The model whose embeddings group near-duplicate complaints into incidents."""
        self._classifier = classifier

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings computed on the model's own thread (the classifier is not shared between threads)."""
        assert self._classifier is not None
        classifier = self._classifier
        return self._model.submit(lambda: classifier.embed(list(texts))).result()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self.reload()
            try:
                await loop.run_in_executor(self._db, self.evaluate)
                await loop.run_in_executor(None, self.housekeeping)
            except SQLAlchemyError as exc:
                self._on_error(describe(exc, self.store.url))
            except Exception as exc:  # a bug in one rule or one delivery must not end alerting for good
                log.exception("evaluating the alert rules failed; trying again on the next turn")
                self._on_error(f"alerts: {type(exc).__name__}: {exc}")
            every = self._every if self._every is not None else self.settings.alerts.evaluate_seconds
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass

    def reload(self) -> bool:
        if self._watcher is None:
            return False
        fresh = self._watcher.poll()
        if fresh is None:
            return False
        before = self.settings.alerts
        self.settings = self.settings.model_copy(update={"alerts": fresh.alerts})
        self.stats.reloads += 1
        if fresh.alerts != before:
            rules = fresh.alerts.effective_rules()
            log.warning(
                "alert rules reloaded: %d rules (%s), %d subscribers",
                len(rules),
                ", ".join(r.name for r in rules),
                len(fresh.alerts.subscribers),
            )
        return True

    def evaluate(self) -> None:
        from responders.alert_windows import evaluate_windows

        embed = self.embed if self._classifier is not None else None
        report = evaluate_windows(self.store, self.settings.alerts, now=self._clock(), embed=embed)
        self.stats.evaluations += 1
        self.stats.fired += len(report.fired)
        self.stats.updated += len(report.updated)
        for error in report.errors:
            self._on_error(f"alert rule {error}")
        for firing in report.fired:
            log.warning("alert fired: %s: %s", firing.rule, firing.title)

    def housekeeping(self) -> None:
        """The Monday report, then delivery (which folds the digests that are due first). One at a time."""
        if not self._housekeeping.acquire(blocking=False):
            return
        try:
            if any(s.weekly_report for s in self.settings.alerts.subscribers):
                self._weekly_report(self._clock())
            self._deliver()
        finally:
            self._housekeeping.release()

    def _weekly_report(self, now: datetime) -> None:
        from responders.report_mail import queue_weekly_report

        try:
            firing = queue_weekly_report(
                self.store, self.settings.alerts, now=now, out_root=self.report_root()
            )
        except SQLAlchemyError:
            raise
        except Exception as exc:  # a report that cannot be built must not stop alert delivery
            log.exception("the weekly report could not be built")
            self._on_error(f"weekly report: {type(exc).__name__}: {exc}")
            return
        if firing is not None:
            self.stats.reports += 1
            log.warning("weekly report %s queued for its subscribers", firing.key)

    def report_root(self) -> Path:
        configured: Any = self.settings.alerts.report_dir
        if configured is not None:
            return Path(configured).expanduser()
        from platformdirs import user_data_dir

        return Path(user_data_dir("earful", appauthor=False)) / "reports"
