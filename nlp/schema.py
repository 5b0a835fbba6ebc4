"""What goes into the classifier and what comes out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_NONE = "none"


@dataclass(frozen=True)
class ClassifyInput:
    text: str
    followers: int = 0


@dataclass
class Classification:
    """Scores for one mention.

    `severity` is 1..4 (No explicit reproach, Disapproval, Accusation, Blame) only when the mention is
    probably a complaint (complaint >= 0.5); otherwise 0 and `severity_label` "none", because the
    severity head was trained on complaints only and its guess on anything else means nothing.
    """

    sentiment: str
    sentiment_probs: dict[str, float]
    complaint: float
    severity: int
    severity_label: str
    urgency: int
    tier: str
    entities: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
