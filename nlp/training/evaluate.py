"""Official figures of the shipped heads, each with the protocol it was measured under.

`run_eval` is what `earful eval --json` prints. It needs numpy, the encoder and the shared data; no sklearn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import COMPLAINT_THRESHOLD, Classifier
from nlp.config import NLPSettings
from nlp.training.cache import default_cache_dir, embed_cached
from nlp.training.data import SEVERITY_LABELS, complaint_rows, resolve_data_dir, tweeteval
from nlp.training.metrics import accuracy, macro_f1, macro_recall, per_class, roc_auc

_SKIP = object()


def _round(x: float) -> float:
    return round(float(x), 4)


def _per_class(values: np.ndarray, labels: tuple[str, ...] | list[str]) -> dict[str, float]:
    return {label: _round(v) for label, v in zip(labels, values, strict=True)}


def held_out_ids(meta: dict[str, Any]) -> np.ndarray:
    try:
        return np.asarray(meta["split"]["held_out_ids"], dtype=np.int64)
    except KeyError:
        raise ValueError("meta.json has no split.held_out_ids; retrain with `make train`") from None


def run_eval(
    data_dir: Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    *,
    artifacts_dir: Path | None = None,
    classifier: Classifier | None = None,
    cache_dir: Path | None | object = _SKIP,
) -> dict[str, Any]:
    """Evaluate the heads in `artifacts_dir` (default: packaged) and return one JSON-able dict.

    `limit` scores only the first N rows of each test set: a smoke test, not a figure to quote.
    Embeddings of full runs are cached under .cache/nlp/; limited runs never write the cache.
    """
    started = time.monotonic()
    log: Callable[[str], None] = (
        (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    )
    data = resolve_data_dir(data_dir)
    clf = classifier if classifier is not None else Classifier.load(NLPSettings(artifacts_dir=artifacts_dir))
    if cache_dir is _SKIP:
        cache_dir = default_cache_dir() if limit is None else None
    assert cache_dir is None or isinstance(cache_dir, Path)
    meta = clf.meta
    heads = clf.heads

    def embed(texts: list[str], label: str) -> np.ndarray:
        return embed_cached(clf.encoder, texts, label=label, cache_dir=cache_dir, log=log, progress=progress)

    # Sentiment: the official SemEval-2017 4A / TweetEval test set, never seen in training or selection.
    test = tweeteval(data, "test")
    texts, gold = test.texts[:limit], test.labels[:limit]
    pred = heads["sentiment"].predict_proba(embed(texts, "tweeteval-test")).argmax(axis=1)
    sent_labels = heads["sentiment"].labels
    sentiment = {
        "metric": "macro_recall",
        "value": _round(macro_recall(gold, pred, len(sent_labels))),
        "split": f"TweetEval test ({len(test.texts):,})",
        "n": len(gold),
        "accuracy": _round(accuracy(gold, pred)),
        "macro_f1": _round(macro_f1(gold, pred, len(sent_labels))),
        "recall": _per_class(per_class(gold, pred, len(sent_labels))["recall"], sent_labels),
    }

    # Complaint and severity: the fixed held-out fold recorded in meta.json at training time.
    rows = complaint_rows(data)
    position = {int(row_id): i for i, row_id in enumerate(rows.ids)}
    fold = np.array([position[int(i)] for i in held_out_ids(meta)], dtype=np.int64)
    fold_complaints = fold[rows.complaint[fold] == 1]
    use_c, use_s = fold[:limit], fold_complaints[:limit]
    union = np.union1d(use_c, use_s)
    vectors = embed([rows.texts[i] for i in union], "complaints-heldout")
    where = {int(i): j for j, i in enumerate(union)}
    seed = meta.get("seed")
    protocol = (
        f"fixed seeded stratified 20% held-out fold of complaints-preotiuc2019 (seed {seed}, "
        f"strata = severity level, ids in meta.json), n={len(fold)}"
    )

    p_complaint = heads["complaint"].predict_proba(vectors[[where[int(i)] for i in use_c]])[:, 1]
    gold_c = rows.complaint[use_c]
    pred_c = (p_complaint >= COMPLAINT_THRESHOLD).astype(np.int64)
    complaint = {
        "metric": "macro_f1",
        "value": _round(macro_f1(gold_c, pred_c, 2)),
        "protocol": protocol,
        "n": len(use_c),
        "threshold": COMPLAINT_THRESHOLD,
        "accuracy": _round(accuracy(gold_c, pred_c)),
        "complaint_f1": _round(per_class(gold_c, pred_c, 2)["f1"][1]),
        "roc_auc": _round(roc_auc(gold_c, p_complaint)),
    }

    sev_labels = heads["severity"].labels
    gold_s = rows.severity[use_s] - 1
    pred_s = heads["severity"].predict_proba(vectors[[where[int(i)] for i in use_s]]).argmax(axis=1)
    severity = {
        "metric": "macro_f1",
        "value": _round(macro_f1(gold_s, pred_s, len(sev_labels))),
        "protocol": f"gold complaints of the same held-out fold (seed {seed}), n={len(fold_complaints)}",
        "n": len(use_s),
        "accuracy": _round(accuracy(gold_s, pred_s)),
        "f1": _per_class(per_class(gold_s, pred_s, len(sev_labels))["f1"], sev_labels),
        "note": "level names inferred from ordinal order and class sizes (complaint-severity-xci SOURCE.md)",
    }
    if tuple(sev_labels) != SEVERITY_LABELS:
        severity["note"] = f"{severity['note']}; heads carry labels {list(sev_labels)}"

    return {
        "sentiment": sentiment,
        "complaint": complaint,
        "severity": severity,
        "encoder": clf.encoder_name,
        "heads": {name: meta.get("heads", {}).get(name, {}).get("model") for name in heads},
        "trained_at": meta.get("trained_at"),
        "limit": limit,
        "seconds": round(time.monotonic() - started, 1),
    }
