"""Official figures of the shipped model, each with the protocol it was measured under, plus calibration.

`run_eval` is what `earful eval --json` prints. It scores data the model never trained on:
- sentiment: TweetEval test (the SemEval-2017 4A test set, 12,284 tweets);
- complaint and severity: the fixed, seeded, stratified 20% fold of complaints-preotiuc2019 recorded in
  model.json at training time (training and calibration exclude it).
The 10-fold cross-validation figures comparable to the papers come from `earful train --cv`; if that run's
`cv.json` sits beside the model, its summary is repeated here, labelled as such.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import COMPLAINT_THRESHOLD, Classifier
from nlp.config import NLPSettings
from nlp.finetuned import LABELS, packaged_artifacts_dir
from nlp.training.cache import Progress
from nlp.training.data import complaint_rows, resolve_data_dir, tweeteval
from nlp.training.finetune import expected_calibration_error
from nlp.training.metrics import accuracy, macro_f1, macro_recall, per_class, roc_auc

CHUNK = 256


def _round(x: float) -> float:
    return round(float(x), 4)


def _per_class(values: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    return {label: _round(v) for label, v in zip(labels, values, strict=True)}


def held_out_ids(meta: dict[str, Any]) -> np.ndarray:
    try:
        return np.asarray(meta["split"]["held_out_ids"], dtype=np.int64)
    except KeyError:
        raise ValueError("model.json has no split.held_out_ids; retrain with `make train`") from None


def _predict(clf: Classifier, texts: list[str], label: str, progress: bool) -> dict[str, np.ndarray]:
    tick = Progress(label, len(texts), verb="scoring") if progress else None
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(texts), CHUNK):
        parts.append(clf.predict(texts[start : start + CHUNK]))
        if tick is not None:
            tick(min(start + CHUNK, len(texts)))
    if not parts:
        return {t: np.zeros((0, len(v))) for t, v in LABELS.items()}
    return {t: np.concatenate([p[t] for p in parts]) for t in parts[0]}


def run_eval(
    data_dir: Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    *,
    artifacts_dir: Path | None = None,
    classifier: Classifier | None = None,
    settings: NLPSettings | None = None,
) -> dict[str, Any]:
    """Evaluate the model in `artifacts_dir` (default: packaged) and return one JSON-able dict.

    `limit` scores only the first N rows of each test set: a smoke test, not a figure to quote.
    """
    started = time.monotonic()
    log: Callable[[str], None] = (
        (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    )
    data = resolve_data_dir(data_dir)
    if classifier is None:
        base = settings if settings is not None else NLPSettings()
        if artifacts_dir is not None:
            base = base.model_copy(update={"artifacts_dir": artifacts_dir})
        classifier = Classifier.load(base.model_copy(update={"cache_size": 0}))
    clf = classifier
    meta = clf.meta
    int8 = clf.settings.quantize and clf.settings.backend == "onnx"
    log(f"evaluating {clf.encoder_name} ({clf.settings.backend}{', int8' if int8 else ''})")

    # Sentiment: the official SemEval-2017 4A / TweetEval test set, never seen in training or selection.
    test = tweeteval(data, "test")
    texts, gold = test.texts[:limit], test.labels[:limit]
    probs = _predict(clf, texts, "TweetEval test", progress)["sentiment"]
    pred = clf.sentiment_index(probs)
    sent_labels = LABELS["sentiment"]
    sentiment = {
        "metric": "macro_recall",
        "value": _round(macro_recall(gold, pred, 3)),
        "protocol": f"TweetEval sentiment test split ({len(test.texts):,} tweets, = SemEval-2017 4A test); "
        "training used the SemEval-2013..16 pool minus TweetEval val/test, selection and calibration TweetEval val",
        "n": len(gold),
        "accuracy": _round(accuracy(gold, pred)),
        "macro_f1": _round(macro_f1(gold, pred, 3)),
        "recall": _per_class(per_class(gold, pred, 3)["recall"], sent_labels),
        "ece": _round(expected_calibration_error(probs, gold)),
    }
    if clf.sentiment_model is not None:
        sentiment["model"] = clf.sentiment_model.name

    # Complaint and severity: the fixed held-out fold recorded in model.json at training time.
    rows = complaint_rows(data)
    position = {int(row_id): i for i, row_id in enumerate(rows.ids)}
    fold = np.array([position[int(i)] for i in held_out_ids(meta)], dtype=np.int64)[:limit]
    split = meta.get("split", {})
    seed = split.get("seed")
    protocol = (
        f"fixed seeded stratified {split.get('fraction', 0.2):.0%} held-out fold of complaints-preotiuc2019 "
        f"(seed {seed}, strata = severity level 0-4, ids in model.json), n={len(held_out_ids(meta))}; "
        "training and calibration exclude it"
    )
    fold_probs = _predict(clf, [rows.texts[i] for i in fold], "complaint hold-out fold", progress)
    p_complaint = fold_probs["complaint"][:, 1]
    gold_c = rows.complaint[fold]
    pred_c = (p_complaint >= COMPLAINT_THRESHOLD).astype(np.int64)
    complaint = {
        "metric": "macro_f1",
        "value": _round(macro_f1(gold_c, pred_c, 2)),
        "protocol": protocol,
        "n": len(fold),
        "threshold": COMPLAINT_THRESHOLD,
        "accuracy": _round(accuracy(gold_c, pred_c)),
        "complaint_f1": _round(per_class(gold_c, pred_c, 2)["f1"][1]),
        "roc_auc": _round(roc_auc(gold_c, p_complaint)),
        "ece": _round(expected_calibration_error(fold_probs["complaint"], gold_c)),
    }

    is_c = gold_c == 1
    sev_labels = LABELS["severity"]
    gold_s = rows.severity[fold][is_c] - 1
    sev_probs = fold_probs["severity"][is_c]
    pred_s = sev_probs.argmax(axis=1)
    severity = {
        "metric": "macro_f1",
        "value": _round(macro_f1(gold_s, pred_s, 4)),
        "protocol": f"the gold complaints of the same held-out fold (seed {seed}), n={int(is_c.sum())}",
        "n": int(is_c.sum()),
        "accuracy": _round(accuracy(gold_s, pred_s)),
        "f1": _per_class(per_class(gold_s, pred_s, 4)["f1"], sev_labels),
        "ece": _round(expected_calibration_error(sev_probs, gold_s)),
    }

    figures: dict[str, Any] = {
        "sentiment": sentiment,
        "complaint": complaint,
        "severity": severity,
        "ece": "top-label expected calibration error, 15 equal-width bins, on the same test data",
        "encoder": clf.encoder_name,
        "backend": clf.settings.backend
        + ("-int8" if clf.settings.backend == "onnx" and clf.settings.quantize else ""),
        "trained": meta.get("trained"),
        "limit": limit,
    }
    directory = clf.settings.artifacts_dir or packaged_artifacts_dir()
    cv_file = directory / "cv.json"
    if cv_file.exists():
        cv = json.loads(cv_file.read_text(encoding="utf-8"))
        figures["cv_10fold"] = {
            "protocol": cv.get("protocol"),
            "summary": cv.get("summary"),
            "folds_done": len(cv.get("folds", [])),
            "complete": bool(cv.get("complete")),
            "source": "earful train --cv",
        }
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures
