"""Scoring a batch with the classifier: never an exception for one bad text, and the brand's own posts never
compete for a responder's attention."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from store.contacts import Contact
from store.incoming import NewMention, ScoredMention, Scores

if TYPE_CHECKING:
    from nlp import Classification, Classifier

log = logging.getLogger(__name__)


def classify_batch(
    classifier: Classifier, batch: list[NewMention], history: list[Contact] | None = None
) -> list[ScoredMention]:
    """Score a batch; `history` (from `_contacts`, one per mention) tells urgency how often each customer
    already wrote in the thread and the tier on their record."""
    from nlp import ClassifyInput

    if not batch:
        return []

    inputs = [
        ClassifyInput(
            text=m.text,
            followers=m.author.followers,
            prior_contacts=h.prior_contacts,
            customer_tier=h.customer_tier,
        )
        for m, h in zip(batch, history or [Contact() for _ in batch], strict=True)
    ]
    results: list[Classification | None]
    try:
        results = list(classifier.classify(inputs))
    except Exception:
        log.exception("classifying a batch of %s failed; retrying one by one", len(batch))
        results = []
        for item in inputs:
            try:
                results.extend(classifier.classify([item]))
            except Exception:
                log.exception("could not classify one mention; storing it unscored")
                results.append(None)
    return [ScoredMention(mention=m, scores=scores_of(m, r)) for m, r in zip(batch, results, strict=True)]


def scores_of(mention: NewMention, result: Classification | None) -> Scores:
    if result is None:
        return Scores()
    scores = Scores(
        sentiment=result.sentiment,
        sentiment_probs=result.sentiment_probs,
        complaint=result.complaint,
        severity=result.severity,
        severity_label=result.severity_label,
        urgency=result.urgency,
        urgency_tier=result.tier,
        entities=result.entities,
        explanation=result.explanation,
        risks=result.risks,
    )
    if mention.is_own:
        # The brand's own posts are scored for the record but never compete for a responder's attention.
        scores.urgency, scores.urgency_tier = 0, "low"
        scores.explanation = []  # nothing pushed an urgency of 0 up; the risks stay, as facts about the text
    return scores
