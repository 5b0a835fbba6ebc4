"""Each source's latest state, as the process running it last reported: what `earful status` prints."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from store.clock import utcnow
from store.incoming import storable
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
    # Bounded to the columns and cleaned of what PostgreSQL refuses: a server's error text in one source's
    # detail must not stop every source's health from being written.
    for row in sorted(rows, key=lambda r: r.source):
        source = storable(row.source)[:200]
        item = session.get(SourceHealth, source) or SourceHealth(source=source, network="", state="")
        item.network = storable(row.network)[:20]
        item.state = storable(row.state)[:20]
        item.detail = storable(row.detail)[:2000]
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


# When the database cannot be written (a full disk, a lock, an outage), health rows stop, and `earful status`
# would call a process that is only waiting "not running". The process says why in a small file outside the
# database instead (in the temporary directory, usually another file system than the data), one per process.
NOTES = Path(tempfile.gettempdir()) / f"earful-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "waiting"


@dataclass(frozen=True)
class WaitingNote:
    reporter: str
    waiting_for: str
    since: datetime
    written_at: datetime


def _note_path(reporter: str, directory: Path) -> Path:
    return directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", reporter) + ".json")


def write_waiting_note(reporter: str, waiting_for: str, since: datetime, *, directory: Path = NOTES) -> None:
    """Say (outside the database) what this process waits for; best effort: that disk may be full too."""
    path = _note_path(reporter, directory)
    body = {"reporter": reporter, "waiting_for": waiting_for, "since": since.isoformat()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**body, "written_at": utcnow().isoformat()}), encoding="utf-8")
    except OSError:
        pass


def clear_waiting_note(reporter: str, *, directory: Path = NOTES) -> None:
    try:
        _note_path(reporter, directory).unlink(missing_ok=True)
    except OSError:
        pass


def read_waiting_note(reporter: str, *, directory: Path = NOTES) -> WaitingNote | None:
    try:
        body = json.loads(_note_path(reporter, directory).read_text(encoding="utf-8"))
        return WaitingNote(
            reporter=str(body["reporter"]),
            waiting_for=str(body["waiting_for"]),
            since=datetime.fromisoformat(body["since"]),
            written_at=datetime.fromisoformat(body["written_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
