"""Evaluation protocol: figures come back as one JSON-able dict, and the held-out fold is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlp import Classifier
from nlp.training.data import DataDirError, complaint_rows, resolve_data_dir, stratified_holdout
from nlp.training.evaluate import run_eval
from nlp.training.metrics import macro_f1, macro_recall, roc_auc


def test_run_eval_limited(classifier: Classifier, data_dir: Path) -> None:
    result = run_eval(data_dir, limit=200, progress=False, classifier=classifier)
    json.dumps(result)
    for task, metric in (("sentiment", "macro_recall"), ("complaint", "macro_f1"), ("severity", "macro_f1")):
        assert result[task]["metric"] == metric
        assert 0.0 <= result[task]["value"] <= 1.0
        assert result[task]["n"] == (200 if task != "severity" else result["severity"]["n"])
    assert 0 < result["severity"]["n"] < 200  # the gold complaints among those 200 rows
    assert result["sentiment"]["protocol"].startswith("TweetEval sentiment test")
    assert "seed 13" in result["complaint"]["protocol"]
    for task in ("sentiment", "complaint", "severity"):
        assert 0.0 <= result[task]["ece"] <= 1.0
    assert result["sentiment"]["value"] > 0.45  # far above the 0.33 of a constant guess
    assert result["complaint"]["value"] > 0.6


def test_held_out_fold_is_reproducible(classifier: Classifier, data_dir: Path) -> None:
    rows = complaint_rows(data_dir)
    mask = stratified_holdout(rows.severity, fraction=0.2, seed=classifier.meta["split"]["seed"])
    assert rows.ids[mask].tolist() == classifier.meta["split"]["held_out_ids"]
    # every severity level is represented on both sides
    for level in range(5):
        assert (rows.severity[mask] == level).any() and (rows.severity[~mask] == level).any()


def test_stratified_holdout_properties() -> None:
    strata = np.array([0] * 70 + [1] * 20 + [2] * 10)
    a = stratified_holdout(strata, fraction=0.2, seed=1)
    assert a.sum() == 20
    assert [int((strata[a] == k).sum()) for k in range(3)] == [14, 4, 2]
    assert (a == stratified_holdout(strata, fraction=0.2, seed=1)).all()
    assert not (a == stratified_holdout(strata, fraction=0.2, seed=2)).all()


def test_metrics_match_hand_computed_values() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    assert macro_recall(y, p, 3) == (0.5 + 1.0 + 0.5) / 3
    assert abs(macro_f1(y, p, 3) - (0.5 + 0.8 + 2 / 3) / 3) < 1e-9
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_missing_data_dir_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="EARFUL_DATA_DIR"):
        resolve_data_dir(tmp_path)
