"""Calibrate the saved model as it ships (the configured backend, int8 ONNX by default) on validation data.

- sentiment: a temperature fitted by NLL on TweetEval val, then decision offsets for the label, chosen on
  the same val split to maximise macro-averaged recall (the benchmark's metric). The offsets move the
  label only; the reported probabilities stay the calibrated ones.
- complaint and severity: a temperature each, fitted on the calibration rows that training held back
  (`split.calibration_ids` in model.json, 10% of the training part; never the held-out test fold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import Classifier
from nlp.config import NLPSettings
from nlp.finetuned import MODEL_META
from nlp.training.data import complaint_rows, tweeteval
from nlp.training.finetune import Log, fit_temperature
from nlp.training.metrics import macro_recall

OFFSET_GRID = np.round(np.arange(-1.5, 1.5001, 0.05), 2)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def best_offsets(logp: np.ndarray, labels: np.ndarray) -> tuple[list[float], float]:
    """Offsets (negative, 0, positive) maximising macro-recall of argmax(logp + offsets); ties -> smallest."""
    best = (-1.0, 0.0, [0.0, 0.0, 0.0])
    for neg in OFFSET_GRID:
        for pos in OFFSET_GRID:
            offsets = [float(neg), 0.0, float(pos)]
            score = macro_recall(labels, np.argmax(logp + offsets, axis=1), 3)
            size = abs(neg) + abs(pos)
            if score > best[0] + 1e-12 or (abs(score - best[0]) <= 1e-12 and size < best[1]):
                best = (score, size, offsets)
    return best[2], best[0]


def calibrate(out: Path, data: Path, log: Log, settings: NLPSettings | None = None) -> dict[str, Any]:
    base = settings if settings is not None else NLPSettings()
    clf = Classifier.load(base.model_copy(update={"artifacts_dir": out, "cache_size": 0}))
    meta_path = out / MODEL_META
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    log("calibrating on TweetEval val and the held-back calibration rows ...")

    val = tweeteval(data, "val")
    z = clf.raw_logits(val.texts)["sentiment"]
    t_sent = fit_temperature(z, val.labels)
    logp = log_softmax(z / t_sent)
    plain = macro_recall(val.labels, logp.argmax(axis=1), 3)
    offsets, tuned = best_offsets(logp, val.labels)

    rows = complaint_rows(data)
    position = {int(r): i for i, r in enumerate(rows.ids)}
    cal = np.array([position[int(i)] for i in meta["split"]["calibration_ids"]], dtype=np.int64)
    zc = clf.raw_logits([rows.texts[i] for i in cal])
    t_c = fit_temperature(zc["complaint"], rows.complaint[cal])
    is_c = rows.complaint[cal] == 1
    t_s = fit_temperature(zc["severity"][is_c], rows.severity[cal][is_c] - 1)

    backend = clf.settings.backend + (
        "-int8" if clf.settings.backend == "onnx" and clf.settings.quantize else ""
    )
    meta["calibration"] = {
        "backend": backend,
        "sentiment": {
            "temperature": round(t_sent, 6),
            "decision_offsets": offsets,
            "fitted_on": f"TweetEval val ({len(val.texts):,})",
            "val_macro_recall": {"argmax": round(plain, 4), "with_offsets": round(tuned, 4)},
        },
        "complaint": {"temperature": round(t_c, 6), "fitted_on": f"calibration rows ({len(cal)})"},
        "severity": {"temperature": round(t_s, 6), "fitted_on": f"complaints among them ({int(is_c.sum())})"},
    }
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"  sentiment T={t_sent:.3f} offsets={offsets} (val macro-recall {plain:.4f} -> {tuned:.4f}); "
        f"complaint T={t_c:.3f}; severity T={t_s:.3f}")  # fmt: skip
    return meta["calibration"]
