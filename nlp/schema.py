"""What goes into the classifier and what comes out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_NONE = "none"


@dataclass(frozen=True)
class ClassifyInput:
    """One mention to score. Beyond the text, urgency reads who wrote it and how often they already asked:

    - `followers`: the author's reach on the network;
    - `prior_contacts`: the customer's earlier messages in the same thread (a repeat contact waits longer);
    - `customer_tier`: the tier on the customer's record (a key of `UrgencyWeights.customer_tiers`).
    """

    text: str
    followers: int = 0
    prior_contacts: int = 0
    customer_tier: str | None = None


@dataclass
class Classification:
    """Scores for one mention.

    `severity` is 1..4 (No explicit reproach, Disapproval, Accusation, Blame) only when the mention is
    probably a complaint (complaint >= 0.5); otherwise 0 and `severity_label` "none", because the
    severity head was trained on complaints only and its guess on anything else means nothing.

    `explanation` lists the words and phrases of the text that pushed urgency up the most, from the
    model's own token attributions (nlp/explain.py), strongest first. `risks` names the risk categories
    (safety, legal, churn, outage, ...) whose terms the text contains; they raise urgency too.
    """

    sentiment: str
    sentiment_probs: dict[str, float]
    complaint: float
    severity: int
    severity_label: str
    urgency: int
    tier: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
