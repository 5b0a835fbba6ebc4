"""The configured sources of every network under one supervisor, and what the pipeline says about them: each
source's health in the store (for `earful status` and every desk) and an alert when a network goes silent."""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from listener.config import NETWORKS
from listener.health import HealthEvent
from listener.source import Source
from listener.supervisor import Supervisor
from responders.silence import queue_network_silence, silent_networks
from store.clock import utcnow
from store.health import HealthRow, record_health
from store.mentions import known_mentions

if TYPE_CHECKING:
    from earful.pipeline import Pipeline
    from earful.settings import Settings

log = logging.getLogger(__name__)

REPORTER = f"{socket.gethostname()}:{os.getpid()}"


def build_sources(settings: Settings) -> list[Source]:
    """Every enabled network's sources for the brands that listen on it."""
    sources: list[Source] = []
    for network in NETWORKS:
        net_settings = getattr(settings, network)
        brands = [brand for brand in settings.brands if brand.listens_on(network)]
        if not net_settings.enabled or not brands:
            continue
        module = importlib.import_module(f"listener.{network}")
        sources.extend(module.build_sources(net_settings, brands))
    return sources


def build_collectors(pipeline: Pipeline) -> list[Any]:
    sources = build_sources(pipeline.settings)
    if not sources:
        return []
    store = pipeline.store

    def known(network: str, native_ids: Sequence[str]) -> set[str]:
        # Thread context stops at what is stored (listener/context.py); one indexed lookup per post.
        with store.read() as session:
            return {found for _, found in known_mentions([(network, i) for i in native_ids], session=session)}

    return [
        Supervisor(
            sources,
            sink=pipeline.publish,
            put_aside=pipeline.quarantine,
            get_cursor=pipeline.cursor,
            on_health=pipeline.note_health,
            known=known,
        )
    ]


def health_key(event: HealthEvent) -> str:
    prefix = f"{event.network}:"
    return event.source if event.source.startswith(prefix) else prefix + event.source


def health_rows(pipeline: Pipeline) -> list[HealthRow]:
    """The latest reported state of each source, with the supervisor's counters where it has them."""
    counters = {
        h.source: h
        for collector in pipeline.collectors
        if isinstance(collector, Supervisor)
        for h in collector.health()
    }
    rows: list[HealthRow] = []
    for key, event in sorted(pipeline.health.items()):
        seen = counters.get(key) or counters.get(event.source)
        rows.append(
            HealthRow(
                source=key,
                network=event.network,
                state=str(event.state),
                detail=event.detail,
                until=event.until,
                last_event_at=seen.last_event_at if seen else None,
                delivered=seen.delivered if seen else 0,
                reconnects=seen.reconnects if seen else 0,
            )
        )
    return rows


class SourceWatch:
    """Runs on the pipeline's database thread: writes health rows, raises silence alerts."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.started_at = utcnow()

    def publish(self) -> None:
        rows = health_rows(self.pipeline)
        if not rows:
            return
        with self.pipeline.store.write() as session:
            record_health(rows, reporter=REPORTER, session=session)

    def check_silence(self, now: datetime | None = None) -> int:
        """Queue (and try to deliver) an alert for each network silent past the limit: none of its sources
        delivered and no stream of it is live (a source standing by is never silent); returns how many."""
        settings = self.pipeline.alert_settings
        silent = silent_networks(
            health_rows(self.pipeline), since=self.started_at, settings=settings, now=now or utcnow()
        )
        if not silent:
            return 0
        queued = 0
        with self.pipeline.store.write() as session:
            for silence in silent:
                queued += len(queue_network_silence(silence, session=session, settings=settings, now=now))
        if queued:
            log.warning("%s silence alert(s) queued for %s", queued, ", ".join(s.network for s in silent))
        return queued
