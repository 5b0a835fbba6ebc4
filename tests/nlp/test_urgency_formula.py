"""Urgency formula properties, on hand-set probabilities (no model needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nlp.config import NLPSettings, UrgencyWeights
from nlp.urgency import reach, risk_matches, tier_for, urgency_score

W = UrgencyWeights()
FURIOUS = {"complaint": 0.98, "severity_probs": [0.05, 0.15, 0.3, 0.5], "negative": 0.95}
THANKS = {"complaint": 0.01, "severity_probs": [0.7, 0.2, 0.05, 0.05], "negative": 0.01}
QUESTION = {"complaint": 0.15, "severity_probs": [0.6, 0.3, 0.05, 0.05], "negative": 0.15}


def score(probs: dict, followers: int = 0, weights: UrgencyWeights = W) -> int:
    return urgency_score(followers=followers, weights=weights, **probs)


def test_big_account_outranks_tiny_account_for_the_same_complaint() -> None:
    assert score(FURIOUS, 250_000) > score(FURIOUS, 12)
    assert tier_for(score(FURIOUS, 250_000), W) == "critical"
    assert tier_for(score(FURIOUS, 12), W) == "high"


def test_thanks_stays_low_even_from_a_celebrity() -> None:
    assert tier_for(score(THANKS, 0), W) == "low"
    assert tier_for(score(THANKS, 50_000_000), W) == "low"


def test_neutral_question_is_normal_or_low() -> None:
    for followers in (0, 1_000, 1_000_000):
        assert tier_for(score(QUESTION, followers), W) in {"normal", "low"}


def test_score_is_bounded_and_monotone_in_reach() -> None:
    scores = [score(FURIOUS, f) for f in (0, 10, 1_000, 100_000, 10**6, 10**9)]
    assert scores == sorted(scores)
    assert all(0 <= s <= 100 for s in scores)
    assert scores[-1] == scores[-2]  # saturated
    assert score({"complaint": 1.0, "severity_probs": [0, 0, 0, 1], "negative": 1.0}, 10**9) == 100


def test_reach_is_log_scaled_and_saturates() -> None:
    assert reach(0, 10**6) == 0.0
    assert reach(-5, 10**6) == 0.0
    assert reach(10**6, 10**6) == pytest.approx(1.0)
    assert reach(10**9, 10**6) == 1.0
    assert reach(1_000, 10**6) == pytest.approx(0.5, abs=0.01)


def test_more_severe_complaint_scores_higher() -> None:
    mild = {**FURIOUS, "severity_probs": [0.9, 0.1, 0.0, 0.0]}
    assert score(FURIOUS) > score(mild)


def test_weights_live_in_settings_and_are_validated() -> None:
    settings = NLPSettings(urgency={"reach": 0.0})
    assert score(FURIOUS, 10**6, settings.urgency) == score(FURIOUS, 0, settings.urgency)
    with pytest.raises(ValidationError):
        UrgencyWeights(critical=40, high=50)
    with pytest.raises(ValidationError):
        NLPSettings(no_such_setting=1)


def test_risk_terms_add_in_proportion_to_how_upset_the_text_is() -> None:
    assert score(FURIOUS | {}, 0) < urgency_score(followers=0, weights=W, risky=True, **FURIOUS)
    calm = urgency_score(followers=0, weights=W, risky=True, **THANKS) - score(THANKS)
    angry = urgency_score(followers=0, weights=W, risky=True, **FURIOUS) - score(FURIOUS)
    assert calm <= 1 < angry


def test_risk_terms_match_whole_words_and_prefixes() -> None:
    found = risk_matches("I will SUE you, my account was cancelled and the app is down", W.risk_terms)
    assert [c for c, _ in found] == ["legal", "churn", "outage"]
    assert risk_matches("suede shoes, fireworks, a legally blonde rewatch", W.risk_terms) == []
    custom = UrgencyWeights(risk_terms={"recall": ["batch 4*"]})
    assert risk_matches("is batch 42 affected?", custom.risk_terms) == [("recall", "batch 42")]


def test_repeat_contact_raises_and_saturates() -> None:
    scores = [urgency_score(followers=0, weights=W, prior_contacts=n, **QUESTION) for n in range(6)]
    assert scores[0] < scores[1] < scores[2] < scores[3] == scores[4] == scores[5]


def test_customer_tier_multiplies_and_unknown_tiers_count_as_standard() -> None:
    std = urgency_score(followers=0, weights=W, customer_tier="standard", **FURIOUS)
    vip = urgency_score(followers=0, weights=W, customer_tier="vip", **FURIOUS)
    assert vip > std == urgency_score(followers=0, weights=W, customer_tier="no-such-tier", **FURIOUS)
    assert (
        urgency_score(
            followers=10**7, weights=W, customer_tier="vip", risky=True, prior_contacts=9, **FURIOUS
        )
        == 100
    )
