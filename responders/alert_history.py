"""What fired and where it went, for `earful alerts history` and the desk's alerts screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from responders.firing import error_text, recent_firings
from responders.safe import one_line
from store import Store
from store.clock import as_utc
from store.models import AlertEvent, AlertFiring

# Shown per delivery: what a reader cares about, in their words.
_STATUS_WORDS = {
    "pending": "waiting to send",
    "held": "held for the digest",
    "folded": "sent in a digest",
    "delivered": "delivered",
    "failed": "gave up",
    "answered": "not sent, answered first",
}


@dataclass(frozen=True)
class Delivery:
    subscriber: str
    kind: str
    revision: int
    status: str
    attempts: int
    when: datetime | None
    error: str

    def describe(self) -> str:
        words = _STATUS_WORDS.get(self.status, self.status)
        update = f" update {self.revision}" if self.revision else ""
        when = f" {as_utc(self.when):%H:%M}" if self.when is not None and self.status == "delivered" else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        error = (
            f" ({one_line(self.error, 120)})"
            if self.error and self.status in ("pending", "failed", "answered")
            else ""
        )
        return f"{self.subscriber}{update}: {words}{when}{tries}{error}"


@dataclass(frozen=True)
class FiringRow:
    id: int
    rule: str
    kind: str
    title: str
    reason: str
    created_at: datetime
    updated_at: datetime
    revision: int
    thread_ids: list[int]
    figures: dict[str, Any]
    examples: list[dict[str, Any]]
    deliveries: list[Delivery]

    @property
    def answered(self) -> str:
        """Why it was not sent, when the brand answered the thread first ("" otherwise)."""
        value = self.figures.get("answered")
        return one_line(value, 200) if isinstance(value, str) else ""

    @property
    def folded(self) -> dict[str, int]:
        """Subscriber -> the firing they heard of this thread's episode from, for those this one was not sent to
        (one alert per thread per episode, responders.episodes)."""
        value = self.figures.get("folded")
        if not isinstance(value, dict):
            return {}
        return {one_line(str(k), 100): v for k, v in value.items() if isinstance(v, int)}

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "kind": self.kind,
            "title": self.title,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "updated_at": self.updated_at.isoformat(timespec="seconds"),
            "revision": self.revision,
            "thread_ids": self.thread_ids,
            "figures": self.figures,
            "examples": self.examples,
            "deliveries": [
                d.__dict__ | {"when": d.when.isoformat() if d.when else None} for d in self.deliveries
            ],
        }


def history(store: Store, *, limit: int = 50, rule: str | None = None) -> list[FiringRow]:
    with store.read() as session:
        rows = recent_firings(session=session, limit=limit if rule is None else limit * 20)
    out = [_row(f, events) for f, events in rows if rule is None or f.rule == rule]
    return out[:limit]


def _row(firing: AlertFiring, events: list[AlertEvent]) -> FiringRow:
    return FiringRow(
        id=firing.id or 0,
        rule=firing.rule,
        kind=firing.kind,
        title=one_line(firing.title, 300),
        reason=one_line(firing.reason),
        created_at=as_utc(firing.created_at),
        updated_at=as_utc(firing.updated_at),
        revision=firing.revision,
        thread_ids=list(firing.thread_ids or []),
        figures=dict(firing.figures or {}),
        examples=list(firing.examples or []),
        deliveries=[
            Delivery(
                subscriber=e.subscriber,
                kind=e.kind,
                revision=e.revision,
                status=e.status,
                attempts=e.attempts,
                when=e.delivered_at,
                error=error_text(e.error),
            )
            for e in events
        ],
    )


def history_lines(rows: list[FiringRow]) -> list[str]:
    """Plain text, newest first: one line per firing, then one indented line per delivery."""
    if not rows:
        return ["No alert has fired yet. Rules: earful alerts rules"]
    lines: list[str] = []
    for row in rows:
        update = f" (updated {row.revision}x, last {row.updated_at:%H:%M})" if row.revision else ""
        thread = f"  thread {row.thread_ids[0]}" if row.thread_ids else ""
        lines.append(
            f"#{row.id} {row.created_at:%Y-%m-%d %H:%M} UTC  {row.rule}  {row.title}{update}{thread}"
        )
        told = [d.describe() for d in row.deliveries]
        told += [
            f"{name}: folded into #{into} (already told of this thread)" for name, into in row.folded.items()
        ]
        if told:
            lines.append("    " + "; ".join(told))
        elif row.answered:
            lines.append(f"    not sent: {row.answered}")
        else:
            lines.append("    no subscriber wanted it")
    return lines
