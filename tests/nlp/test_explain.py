"""The attribution maths behind explanations, on small random heads (no model needed)."""

from __future__ import annotations

import numpy as np

from nlp.config import UrgencyWeights
from nlp.explain import need_gradient, phrases, token_contributions
from nlp.urgency import text_need

W = UrgencyWeights()


def _need(pooled: np.ndarray, heads: dict, temps: dict) -> float:
    probs = {}
    for task, (w, b) in heads.items():
        z = (pooled @ w + b) / temps[task]
        e = np.exp(z - z.max())
        probs[task] = e / e.sum()
    return text_need(float(probs["complaint"][1]), list(probs["severity"]), float(probs["sentiment"][0]), W)


def test_need_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    dim = 12
    sizes = {"sentiment": 3, "complaint": 2, "severity": 4}
    heads = {t: (rng.normal(size=(dim, k)), rng.normal(size=k)) for t, k in sizes.items()}
    temps = {"sentiment": 1.3, "complaint": 0.8, "severity": 1.6}
    pooled = rng.normal(size=dim)
    grad = need_gradient(pooled, heads, temps, W)
    eps = 1e-6
    numeric = np.array(
        [
            (_need(pooled + eps * e, heads, temps) - _need(pooled - eps * e, heads, temps)) / (2 * eps)
            for e in np.eye(dim)
        ]
    )
    assert np.allclose(grad, numeric, atol=1e-6)


def test_the_words_carrying_the_push_are_named_strongest_first() -> None:
    text = "my parcel never arrived and the staff were rude"
    # one token per word here; offsets as a tokenizer gives them, [CLS]/[SEP] as (0, 0)
    spans = [(0, 0)] + [(m.start(), m.end()) for m in __import__("re").finditer(r"\S+", text)] + [(0, 0)]
    values = np.array([0.0, 0.01, 0.2, 0.5, 0.45, -0.1, 0.0, 0.05, 0.0, 0.6, 0.0])
    assert phrases(text, np.array(spans), values) == ["never arrived", "rude"]
    # flipped, only "and" pushes up, and a stop word is never shown alone
    assert phrases(text, np.array(spans), -values) == []
    assert phrases(text, np.array(spans), np.zeros(len(spans))) == []


def test_contributions_are_measured_from_the_mean_state() -> None:
    states = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 5.0]])
    c = token_contributions(states, np.array([1.0, 0.0]))
    assert np.allclose(c, [-1 / 3, 1 / 3, 0.0]) and abs(c.sum()) < 1e-12
