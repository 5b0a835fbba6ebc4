"""Each source's latest state, as the process running it last reported: what `earful status` prints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from store.clock import utcnow
from store.models import SourceHealth


@dataclass(frozen=True)
class HealthRow:
    source: str
    network: str
    state: str
    detail: str = ""
    until: datetime | None = None
    last_event_at: datetime | None = None
    delivered: int = 0
    reconnects: int = 0


def record_health(rows: Iterable[HealthRow], *, reporter: str, session: Session) -> None:
    now = utcnow()
    for row in rows:
        item = session.get(SourceHealth, row.source) or SourceHealth(
            source=row.source, network=row.network, state=""
        )
        item.network = row.network
        item.state = row.state
        item.detail = row.detail[:2000]
        item.until = row.until
        # A restarted process knows no event yet; the last one seen by anyone is still the last event.
        if row.last_event_at is not None:
            item.last_event_at = row.last_event_at
        item.delivered = row.delivered
        item.reconnects = row.reconnects
        item.reporter = reporter
        item.updated_at = now
        session.add(item)


def list_health(*, session: Session) -> Sequence[SourceHealth]:
    return session.exec(
        select(SourceHealth).order_by(col(SourceHealth.network), col(SourceHealth.source))
    ).all()
