"""Urgency formula properties, on hand-set probabilities (no model needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nlp.config import NLPSettings, UrgencyWeights
from nlp.urgency import reach, tier_for, urgency_score

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
