"""Which words pushed a mention's urgency up: attributions read off the model itself.

The heads are linear over the mean of the encoder's last-layer token states h_1..h_L, so each head's
logits are exactly the mean of per-token terms W·h_i (plus the bias). Urgency's text part, `need`
(nlp/urgency.py), is a smooth function of the calibrated head probabilities, so its gradient g with respect
to the pooled state is cheap to write down (chain rule through softmax and the calibration temperature).
Token i's contribution is then g·(h_i - h̄) / L: gradient x activation at the pooling layer, measured
from the tweet's mean state so that the context all last-layer states share does not drown the words.
Contributions are summed over the word pieces of each word, the strongest positive words are kept,
neighbours merge into phrases, and phrases are trimmed to start and end on a content word (spaCy's English
stop words and the @user/http placeholders never stand alone).

No extra forward pass is needed: the token states come out of the same encoder run that scores the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from nlp.config import UrgencyWeights

# A word is shown if it carries at least this share of the strongest word's push, up to MAX_WORDS words,
# merged into at most MAX_PHRASES phrases.
MIN_SHARE = 0.35
MAX_WORDS = 5
MAX_PHRASES = 3
MAX_PHRASE_CHARS = 40
_PLACEHOLDERS = {"@user", "http"}
_STRIP = " \t.,;:!?\"'()[]{}…-–—*"


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    # Words that carry a complaint's force stay eligible even though spaCy lists them as stop words.
    return frozenset(STOP_WORDS) - {
        "again",
        "never",
        "nobody",
        "nothing",
        "no",
        "not",
        "none",
        "cannot",
        "still",
    }


def _is_filler(text: str, word: tuple[int, int, float]) -> bool:
    token = text[word[0] : word[1]].strip(_STRIP).lower()
    if not token or token in _PLACEHOLDERS:
        return True
    # "it's", "you're": filler when every part is a stop word or a bare letter
    return all(part in _stop_words() or len(part) <= 1 for part in re.split(r"['’]", token))


def need_gradient(
    pooled: np.ndarray,
    heads: Mapping[str, tuple[np.ndarray, np.ndarray]],
    temperatures: Mapping[str, float],
    weights: UrgencyWeights,
) -> np.ndarray:
    """d need / d pooled for one text: (dim,)."""
    w = weights
    total = w.complaint + w.severity + w.negative
    probs = {}
    for task, (W, b) in heads.items():
        z = pooled @ W + b
        z = z / temperatures.get(task, 1.0)
        z = z - z.max()
        e = np.exp(z)
        probs[task] = e / e.sum()
    c = float(probs["complaint"][1])
    k = len(probs["severity"]) - 1
    levels = np.arange(k + 1) / k
    s = float(probs["severity"] @ levels)
    d_q = {
        "complaint": np.array([0.0, (w.complaint + w.severity * s) / total]),
        "severity": w.severity * c * levels / total,
        "sentiment": np.array([w.negative / total, 0.0, 0.0]),
    }
    grad = np.zeros_like(pooled, dtype=np.float64)
    for task, dq in d_q.items():
        q = probs[task]
        jac = np.diag(q) - np.outer(q, q)  # d softmax / d z
        W, _ = heads[task]
        grad += (W / temperatures.get(task, 1.0)) @ (jac @ dq)
    return grad


def token_contributions(states: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """g·(h_i - mean h) / L: each token's push beyond the context every token state shares.

    Last-layer states have all attended to the whole tweet, so g·h_i alone mostly measures that shared
    context and ranks filler tokens high; removing the mean state keeps what is specific to the token.
    The contributions then sum to zero, and the positive ones are what raised the score above the average.
    """
    return ((states - states.mean(axis=0)) @ grad) / max(len(states), 1)


def phrases(text: str, offsets: np.ndarray, contributions: np.ndarray) -> list[str]:
    """The few words (merged into phrases) that pushed urgency up most, strongest phrase first."""
    words: list[tuple[int, int, float]] = []  # (start, end, contribution)
    for (start, end), value in zip(offsets.tolist(), contributions.tolist(), strict=True):
        if end <= start:
            continue  # [CLS], [SEP]
        if words and start == words[-1][1] and not text[start:end].startswith(" "):
            s0, _, v0 = words[-1]
            words[-1] = (s0, end, v0 + value)  # a word piece or glued punctuation: same word
        else:
            words.append((start, end, value))
    candidates = [(i, w[2]) for i, w in enumerate(words) if w[2] > 0 and not _is_filler(text, w)]
    if not candidates:
        return []
    top = max(v for _, v in candidates)
    chosen = sorted(candidates, key=lambda iv: -iv[1])[:MAX_WORDS]
    chosen = [(i, v) for i, v in chosen if v >= MIN_SHARE * top]
    picked = sorted(i for i, _ in chosen)
    groups: list[list[int]] = []
    for i in picked:
        if groups and i == groups[-1][-1] + 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    scored = []
    for group in groups:
        # A phrase starts and ends on a content word: "for" or "my" alone tells a responder nothing.
        while group and _is_filler(text, words[group[0]]):
            group = group[1:]
        while group and _is_filler(text, words[group[-1]]):
            group = group[:-1]
        if not group:
            continue
        start, end = words[group[0]][0], words[group[-1]][1]
        phrase = text[start:end].strip(_STRIP)
        if len(phrase) > MAX_PHRASE_CHARS:
            phrase = phrase[: MAX_PHRASE_CHARS - 1].rstrip() + "…"
        if phrase:
            scored.append((sum(words[i][2] for i in group), phrase))
    out: list[str] = []
    for _, phrase in sorted(scored, key=lambda sp: -sp[0]):
        if phrase not in out:
            out.append(phrase)
    return out[:MAX_PHRASES]


def explain(
    text: str,
    offsets: np.ndarray,
    states: np.ndarray,
    heads: Mapping[str, tuple[np.ndarray, np.ndarray]],
    temperatures: Mapping[str, float],
    weights: UrgencyWeights,
) -> list[str]:
    grad = need_gradient(states.mean(axis=0).astype(np.float64), heads, temperatures, weights)
    return phrases(text, offsets, token_contributions(states.astype(np.float64), grad))
