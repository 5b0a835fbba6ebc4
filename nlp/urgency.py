"""Urgency: one number (0-100) and a tier saying how soon a human should look at a mention.

Formula (weights and thresholds live in `UrgencyWeights`, defaults in brackets):

    c      = P(complaint)
    s      = expected severity rescaled to [0, 1] = sum_k P(severity = k) * (k - 1) / 3,  k = 1..4
    n      = P(negative sentiment)
    need   = (w_c*c + w_s*c*s + w_n*n) / (w_c + w_s + w_n)                    [w_c .45, w_s .30, w_n .25]
    reach  = min(1, ln(1 + followers) / ln(1 + followers_saturation))         [saturation 1,000,000]
    score  = round(100 * need * ((1 - w_r) + w_r * reach))                     [w_r .30]
    tier   = critical if score >= 80, high if >= 50, normal if >= 20, else low

Why this shape:
- `need` is what the text alone says. Complaint probability carries most of it; severity only counts in
  proportion to how likely the text is a complaint at all (the severity head is trained on complaints
  only, so on a thank-you its output means nothing); negative sentiment adds a little for angry
  non-complaints ("this is a disgrace") the complaint head may miss.
- Reach multiplies rather than adds, so a famous account saying thanks stays low while the same angry
  complaint ranks higher from a bigger account. Followers are log-scaled because going from 100 to
  1,000 followers matters about as much as going from 100k to 1M, and saturate so one celebrity does not
  dwarf everything else.
- With w_r = .30, an author with no followers keeps 70% of the text's score: a furious complaint from a
  nobody is still "high", while "critical" (>= 80) needs both a clear, severe complaint and real reach
  (about 10k+ followers), which keeps it rare enough to page someone for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nlp.config import UrgencyWeights

TIERS = ("critical", "high", "normal", "low")


def reach(followers: int, saturation: int) -> float:
    """Log-scaled, saturating audience size in [0, 1]."""
    return min(1.0, math.log1p(max(followers, 0)) / math.log1p(saturation))


def expected_severity(severity_probs: Sequence[float]) -> float:
    """Expected severity level rescaled to [0, 1]: 0 = no explicit reproach ... 1 = blame."""
    last = len(severity_probs) - 1
    return sum(p * k / last for k, p in enumerate(severity_probs)) if last > 0 else 0.0


def urgency_score(
    *,
    complaint: float,
    severity_probs: Sequence[float],
    negative: float,
    followers: int,
    weights: UrgencyWeights,
) -> int:
    w = weights
    need = (
        w.complaint * complaint
        + w.severity * complaint * expected_severity(severity_probs)
        + w.negative * negative
    ) / (w.complaint + w.severity + w.negative)
    amplifier = (1.0 - w.reach) + w.reach * reach(followers, w.followers_saturation)
    return max(0, min(100, round(100.0 * need * amplifier)))


def tier_for(score: int, weights: UrgencyWeights) -> str:
    if score >= weights.critical:
        return "critical"
    if score >= weights.high:
        return "high"
    if score >= weights.normal:
        return "normal"
    return "low"
