"""Figures stored in meta.json after training: the official test figures and how urgency tiers fall."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import Classifier
from nlp.config import NLPSettings, UrgencyWeights
from nlp.text import normalize
from nlp.training.cache import embed_cached
from nlp.training.data import complaint_rows, twcs_inbound
from nlp.training.evaluate import held_out_ids, run_eval
from nlp.urgency import TIERS, tier_for, urgency_score

FOLLOWER_LEVELS = (0, 500, 50_000)


def tier_shares(
    probs: dict[str, np.ndarray],
    negative_index: int,
    weights: UrgencyWeights,
    followers: Sequence[int] = FOLLOWER_LEVELS,
) -> dict[str, dict[str, float]]:
    """Share of texts per tier if every author had `f` followers, for each f in `followers`."""
    out: dict[str, dict[str, float]] = {}
    n = len(probs["complaint"])
    for f in followers:
        tiers = Counter(
            tier_for(
                urgency_score(
                    complaint=float(probs["complaint"][i, 1]),
                    severity_probs=[float(p) for p in probs["severity"][i]],
                    negative=float(probs["sentiment"][i, negative_index]),
                    followers=f,
                    weights=weights,
                ),
                weights,
            )
            for i in range(n)
        )
        out[f"followers={f}"] = {t: round(tiers[t] / n, 4) if n else 0.0 for t in TIERS}
    return out


def _probs(
    clf: Classifier, texts: list[str], label: str, cache: Path | None, log: Callable[[str], None]
) -> dict[str, np.ndarray]:
    x = embed_cached(clf.encoder, texts, label=label, cache_dir=cache, log=log)
    return {name: head.predict_proba(x) for name, head in clf.heads.items()}


def figures(data: Path, artifacts: Path, cache: Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    log("evaluating on the test sets ...")
    clf = Classifier.load(NLPSettings(artifacts_dir=artifacts))
    test = run_eval(data, classifier=clf, cache_dir=cache)
    log(f"  sentiment {test['sentiment']['value']}  complaint {test['complaint']['value']}  "
        f"severity {test['severity']['value']}")  # fmt: skip

    negative = clf.heads["sentiment"].labels.index("negative")
    weights = clf.settings.urgency
    rows = complaint_rows(data)
    position = {int(r): i for i, r in enumerate(rows.ids)}
    fold = [position[int(i)] for i in held_out_ids(clf.meta)]
    fold_probs = _probs(clf, [rows.texts[i] for i in fold], "complaints-heldout", cache, log)
    gold = rows.complaint[fold]
    tiers: dict[str, Any] = {
        "weights": weights.model_dump(),
        "held_out_complaint_fold": {
            "n": len(fold),
            "all": tier_shares(fold_probs, negative, weights),
            "gold_complaints": tier_shares(
                {k: v[gold == 1] for k, v in fold_probs.items()}, negative, weights
            ),
            "gold_non_complaints": tier_shares(
                {k: v[gold == 0] for k, v in fold_probs.items()}, negative, weights
            ),
        },
    }
    inbound = [normalize(t) for t in twcs_inbound(data)]
    if inbound:
        tiers["twcs_inbound"] = {
            "n": len(inbound),
            "what": "customer tweets to 76 brands, first 5,000 TWCS rows (unlabelled support traffic)",
            "shares": tier_shares(_probs(clf, inbound, "twcs-inbound", cache, log), negative, weights),
        }
    return {"test": test, "urgency_tiers": tiers}
