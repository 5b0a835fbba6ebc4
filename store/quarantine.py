"""Keeping aside what could not be parsed or stored, with its reason and raw bytes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from store.incoming import storable
from store.models import Quarantine

# Enough to diagnose any real event; a 50 MB garbage frame is cut, with its size noted in the reason.
MAX_RAW_BYTES = 256 * 1024


def put_aside(network: str, source: str, reason: str, raw: bytes | str, *, session: Session) -> Quarantine:
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_RAW_BYTES:
        reason = f"{reason} (raw was {len(data)} bytes; first {MAX_RAW_BYTES} kept)"
        data = data[:MAX_RAW_BYTES]
    # Bounded and cleaned like a mention's fields: what explains a bad event must never be refused itself.
    item = Quarantine(
        network=storable(network)[:20],
        source=storable(source)[:200],
        reason=storable(reason)[:8000],
        raw=data,
    )
    session.add(item)
    session.flush()
    return item


def list_quarantined(*, session: Session, limit: int = 100) -> Sequence[Quarantine]:
    return session.exec(select(Quarantine).order_by(col(Quarantine.id).desc()).limit(limit)).all()
