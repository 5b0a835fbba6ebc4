"""Urgency: one number (0-100) and a tier saying how soon a human should look at a mention.

Formula (weights and thresholds live in `UrgencyWeights`, defaults in brackets):

    c      = P(complaint)
    s      = expected severity rescaled to [0, 1] = sum_k P(severity = k) * (k - 1) / 3,  k = 1..4
    n      = P(negative sentiment)
    need   = (w_c*c + w_s*c*s + w_n*n) / (w_c + w_s + w_n)                    [w_c .45, w_s .30, w_n .25]
    reach  = min(1, ln(1 + followers) / ln(1 + followers_saturation))         [saturation 1,000,000]
    upset  = max(c, n)
    risk   = w_risk * upset  if the text contains a risk term, else 0          [w_risk .25]
    repeat = w_rep * min(prior, cap) / cap * (.5 + .5 * upset)                 [w_rep .15, cap 3]
    score  = round(100 * min(1, (need * ((1 - w_r) + w_r * reach) + risk + repeat) * tier_mult))
                                                                               [w_r .30; vip 1.25, watch 1.1]
    tier   = critical if score >= 80, high if >= 50, normal if >= 20, else low

`prior` is how many messages the same customer already sent in the thread, `tier_mult` comes from the
customer record's tier (`customer_tiers`; unknown tiers count 1.0).

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
- Risk terms (safety, legal, churn, outage) add rather than multiply, because a model trained on polite
  brand complaints under-rates "my charger caught fire" relative to the damage it can do; the boost is
  scaled by how upset the text is, so "fire sale!" or "legal tender" in a happy tweet barely move.
- A repeat contact adds up to .15: the third unanswered message in a thread is worse than the first even
  if it is worded the same. Half of it applies even to calm text, because the person is still waiting.
- The customer tier multiplies the whole score last, so a VIP's mild question outranks a stranger's but
  does not become critical on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from nlp.config import UrgencyWeights

TIERS = ("critical", "high", "normal", "low")


def reach(followers: int, saturation: int) -> float:
    """Log-scaled, saturating audience size in [0, 1]."""
    return min(1.0, math.log1p(max(followers, 0)) / math.log1p(saturation))


def expected_severity(severity_probs: Sequence[float]) -> float:
    """Expected severity level rescaled to [0, 1]: 0 = no explicit reproach ... 1 = blame."""
    last = len(severity_probs) - 1
    return sum(p * k / last for k, p in enumerate(severity_probs)) if last > 0 else 0.0


def _term_pattern(term: str) -> str:
    term = term.strip().lower()
    prefix = term.endswith("*")
    words = [re.escape(w) for w in term.rstrip("*").split()]
    return r"(?<!\w)" + r"\s+".join(words) + (r"\w*" if prefix else r"(?!\w)")


@lru_cache(maxsize=8)
def _risk_regexes(terms: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple(
        (category, re.compile("|".join(_term_pattern(t) for t in words), re.IGNORECASE))
        for category, words in terms
        if words
    )


def risk_matches(text: str, terms: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(category, matched words) for every risk category whose terms occur in `text`, in config order."""
    key = tuple((c, tuple(ws)) for c, ws in terms.items())
    found = []
    for category, regex in _risk_regexes(key):
        m = regex.search(text)
        if m:
            found.append((category, m.group(0)))
    return found


def text_need(complaint: float, severity_probs: Sequence[float], negative: float, w: UrgencyWeights) -> float:
    """What the text alone says, in [0, 1]; nlp/explain.py differentiates exactly this."""
    return (
        w.complaint * complaint
        + w.severity * complaint * expected_severity(severity_probs)
        + w.negative * negative
    ) / (w.complaint + w.severity + w.negative)


def urgency_score(
    *,
    complaint: float,
    severity_probs: Sequence[float],
    negative: float,
    followers: int,
    weights: UrgencyWeights,
    risky: bool = False,
    prior_contacts: int = 0,
    customer_tier: str | None = None,
) -> int:
    w = weights
    need = text_need(complaint, severity_probs, negative, w)
    amplifier = (1.0 - w.reach) + w.reach * reach(followers, w.followers_saturation)
    upset = max(complaint, negative)
    risk = w.risk * upset if risky else 0.0
    repeat = w.repeat * min(max(prior_contacts, 0), w.repeat_cap) / w.repeat_cap * (0.5 + 0.5 * upset)
    multiplier = w.customer_tiers.get((customer_tier or "").lower(), 1.0)
    return max(0, min(100, round(100.0 * min(1.0, (need * amplifier + risk + repeat) * multiplier))))


def tier_for(score: int, weights: UrgencyWeights) -> str:
    if score >= weights.critical:
        return "critical"
    if score >= weights.high:
        return "high"
    if score >= weights.normal:
        return "normal"
    return "low"
