"""Figures stored in model.json after training: the official test figures and how urgency tiers fall."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import Classifier
from nlp.config import NLPSettings, UrgencyWeights
from nlp.training.data import complaint_rows, twcs_inbound
from nlp.training.evaluate import held_out_ids, run_eval
from nlp.urgency import TIERS, risk_matches, tier_for, urgency_score

FOLLOWER_LEVELS = (0, 500, 50_000)


def tier_shares(
    probs: dict[str, np.ndarray],
    texts: Sequence[str],
    weights: UrgencyWeights,
    followers: Sequence[int] = FOLLOWER_LEVELS,
) -> dict[str, dict[str, float]]:
    """Share of texts per tier if every author had `f` followers (first contact, standard customer)."""
    out: dict[str, dict[str, float]] = {}
    n = len(probs["complaint"])
    risky = [bool(risk_matches(t, weights.risk_terms)) for t in texts]
    for f in followers:
        tiers = Counter(
            tier_for(
                urgency_score(
                    complaint=float(probs["complaint"][i, 1]),
                    severity_probs=[float(p) for p in probs["severity"][i]],
                    negative=float(probs["sentiment"][i, 0]),
                    followers=f,
                    weights=weights,
                    risky=risky[i],
                ),
                weights,
            )
            for i in range(n)
        )
        out[f"followers={f}"] = {t: round(tiers[t] / n, 4) if n else 0.0 for t in TIERS}
    return out


def figures(data: Path, artifacts: Path, log: Callable[[str], None]) -> dict[str, Any]:
    log("evaluating on the test sets ...")
    clf = Classifier.load(NLPSettings(artifacts_dir=artifacts))
    test = run_eval(data, classifier=clf)
    log(f"  sentiment {test['sentiment']['value']}  complaint {test['complaint']['value']}  "
        f"severity {test['severity']['value']}")  # fmt: skip
    weights = clf.settings.urgency
    rows = complaint_rows(data)
    position = {int(r): i for i, r in enumerate(rows.ids)}
    fold = [position[int(i)] for i in held_out_ids(clf.meta)]
    texts = [rows.texts[i] for i in fold]
    fold_probs = clf.predict(texts)
    gold = rows.complaint[fold]

    def pick(mask: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
        return {k: v[mask] for k, v in fold_probs.items()}, [t for t, m in zip(texts, mask, strict=True) if m]

    tiers: dict[str, Any] = {
        "held_out_complaint_fold": {
            "n": len(fold),
            "all": tier_shares(fold_probs, texts, weights),
            "gold_complaints": tier_shares(*pick(gold == 1), weights),
            "gold_non_complaints": tier_shares(*pick(gold == 0), weights),
        },
    }
    inbound = twcs_inbound(data)
    if inbound:
        tiers["twcs_inbound"] = {
            "n": len(inbound),
            "what": "customer tweets to 76 brands, first 5,000 TWCS rows (unlabelled support traffic)",
            "shares": tier_shares(clf.predict(inbound), inbound, weights),
        }
    return {"test": test, "urgency_tiers": tiers}
