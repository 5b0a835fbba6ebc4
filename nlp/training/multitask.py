"""Train the shipped fine-tuned model, or cross-validate it: `python -m nlp.training.multitask [--cv]`.

See nlp/training/finetune.py for the two stages. Seeded; stage A is cached under .cache/nlp/ so the CV
run and the shipped run share it. Never trains on TweetEval test or on the complaint hold-out fold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import softmax
from nlp.finetuned import MODEL_META
from nlp.training.data import (
    SENTIMENT_LABELS,
    SEVERITY_LABELS,
    ComplaintRows,
    DataDirError,
    airline_sentiment,
    complaint_rows,
    overlap_key,
    resolve_data_dir,
    semeval_pool,
    stratified_holdout,
    tweeteval,
    xfincorp,
)
from nlp.training.finetune import (
    Log,
    Recipe,
    TaskData,
    build_model,
    elapsed,
    expected_calibration_error,
    fit_temperature,
    head_arrays,
    load_base,
    predict_logits,
    restore,
    set_threads,
    snapshot,
    tokenize,
    train_epochs,
)
from nlp.training.metrics import accuracy, macro_f1, macro_recall

HOLDOUT_FRACTION = 0.2
CV_FOLDS = 10


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Corpus:
    sentiment: TaskData
    fin_complaint: TaskData
    fin_severity: TaskData
    val: TaskData
    rows: ComplaintRows
    row_ids: list[list[int]]
    counts: dict[str, Any]


def load_corpus(data_dir: Path, tokenizer: Any, recipe: Recipe, log: Log, limit: int | None = None) -> Corpus:
    pool = semeval_pool(data_dir)
    val = tweeteval(data_dir, "val")
    test = tweeteval(data_dir, "test")
    rows = complaint_rows(data_dir)
    # Nothing evaluated on may enter training by another door: drop extra-set rows that match a
    # TweetEval val/test line or any complaint row (all complaint rows are test rows in some CV fold).
    guard = {k for k in map(overlap_key, [*val.texts, *test.texts, *rows.texts]) if k}
    airline = airline_sentiment(data_dir, exclude=guard)
    fin = xfincorp(data_dir, exclude=guard)
    texts = [*pool.data.texts, *airline.texts]
    labels = np.concatenate([pool.data.labels, airline.labels])
    if limit is not None:  # smoke runs only: a few rows of everything
        texts, labels = texts[:: max(1, len(texts) // limit)], labels[:: max(1, len(labels) // limit)]
        fin = type(fin)(fin.texts[:limit], fin.complaint[:limit], fin.severity[:limit])
        val = type(val)(val.texts[:limit], val.labels[:limit])
    log(f"tokenising {len(texts) + len(fin.texts) + len(rows.texts) + len(val.texts):,} texts")
    sentiment = TaskData("sentiment", tokenize(tokenizer, texts, recipe.max_length), labels)
    fin_ids = tokenize(tokenizer, fin.texts, recipe.max_length)
    fin_complaint = TaskData("complaint", fin_ids, fin.complaint)
    is_c = np.flatnonzero(fin.complaint == 1)
    fin_severity = TaskData("severity", [fin_ids[i] for i in is_c], fin.severity[is_c] - 1)
    counts = {
        "semeval_pool": pool.counts,
        "airline": {
            "rows": len(airline.texts),
            **{n: int((airline.labels == i).sum()) for i, n in enumerate(SENTIMENT_LABELS)},
        },
        "xfincorp": {
            "rows": len(fin.texts),
            "complaints": int(fin.complaint.sum()),
            **{n: int((fin.severity == i + 1).sum()) for i, n in enumerate(SEVERITY_LABELS)},
        },
        "complaint_rows": len(rows.texts),
    }
    return Corpus(
        sentiment,
        fin_complaint,
        fin_severity,
        TaskData("sentiment", tokenize(tokenizer, val.texts, recipe.max_length), val.labels),
        rows,
        tokenize(tokenizer, rows.texts, recipe.max_length),
        counts,
    )


def _stage_a_key(recipe: Recipe, corpus: Corpus) -> str:
    stage_a = {
        k: v
        for k, v in recipe.as_dict().items()
        if not k.endswith("_b") and k not in ("replay", "calibration_fraction")
    }
    blob = json.dumps([stage_a, corpus.counts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def stage_a(model: Any, corpus: Corpus, recipe: Recipe, pad_id: int, cache: Path, log: Log) -> dict[str, Any]:
    """Train (or load from cache) the stage-A adapters and heads; returns its record for meta.json."""
    import torch

    path = cache / f"stage-a-{_stage_a_key(recipe, corpus)}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=False)
        restore(model, saved["snapshot"])
        log(f"stage A: loaded from {path}")
        return dict(saved["record"])
    start = time.monotonic()
    rng = np.random.default_rng(recipe.seed)
    best: dict[str, Any] = {"val_macro_recall": -1.0}
    history: list[dict[str, float]] = []

    def after_epoch(epoch: int) -> None:
        logits = predict_logits(model, corpus.val.ids, pad_id)["sentiment"]
        mr = macro_recall(corpus.val.labels, logits.argmax(axis=1), 3)
        history.append({"epoch": epoch + 1, "val_macro_recall": round(mr, 4)})
        log(f"stage A epoch {epoch + 1}: TweetEval val macro-recall {mr:.4f} ({elapsed(start)})")
        if mr > best["val_macro_recall"]:
            best.update(val_macro_recall=mr, epoch=epoch + 1, snapshot=snapshot(model))

    train_epochs(
        model,
        [corpus.sentiment, corpus.fin_complaint, corpus.fin_severity],
        epochs=recipe.epochs_a,
        lr=recipe.lr,
        head_lr=recipe.head_lr,
        recipe=recipe,
        pad_id=pad_id,
        rng=rng,
        label="stage A",
        after_epoch=after_epoch,
    )
    restore(model, best["snapshot"])
    record = {
        "epochs": recipe.epochs_a,
        "kept_epoch": best["epoch"],
        "history": history,
        "minutes": round((time.monotonic() - start) / 60, 1),
    }
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({"snapshot": best["snapshot"], "record": record}, path)
    return record


def stage_b(
    model: Any, corpus: Corpus, train_idx: np.ndarray, recipe: Recipe, pad_id: int, label: str, seed: int
) -> None:
    rows = corpus.rows
    complaint = TaskData("complaint", [corpus.row_ids[i] for i in train_idx], rows.complaint[train_idx])
    is_c = train_idx[rows.complaint[train_idx] == 1]
    is_c = np.tile(is_c, recipe.severity_repeat_b)
    severity = TaskData("severity", [corpus.row_ids[i] for i in is_c], rows.severity[is_c] - 1)
    train_epochs(
        model,
        [complaint, severity],
        epochs=recipe.epochs_b,
        lr=recipe.lr_b,
        head_lr=recipe.head_lr_b,
        recipe=recipe,
        pad_id=pad_id,
        rng=np.random.default_rng(seed),
        label=label,
        replay=corpus.sentiment,
        replay_per_epoch=int(recipe.replay * len(train_idx)),
    )


def split_calibration(
    rows: ComplaintRows, idx: np.ndarray, recipe: Recipe, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, calibration) index arrays: a seeded stratified `calibration_fraction` of `idx` held back."""
    mask = stratified_holdout(rows.severity[idx], fraction=recipe.calibration_fraction, seed=seed)
    return idx[~mask], idx[mask]


def complaint_figures(
    logits: dict[str, np.ndarray], rows: ComplaintRows, idx: np.ndarray, cal: dict[str, Any]
) -> dict[str, Any]:
    y = rows.complaint[idx]
    pc = softmax(logits["complaint"][idx] / cal["complaint"]["temperature"])
    pred = (pc[:, 1] >= 0.5).astype(np.int64)
    is_c = rows.complaint[idx] == 1
    ys = rows.severity[idx][is_c] - 1
    ps = softmax(logits["severity"][idx][is_c] / cal["severity"]["temperature"])
    return {
        "complaint_macro_f1": macro_f1(y, pred, 2),
        "complaint_accuracy": accuracy(y, pred),
        "complaint_ece": expected_calibration_error(pc, y),
        "severity_macro_f1": macro_f1(ys, ps.argmax(axis=1), 4),
        "severity_accuracy": accuracy(ys, ps.argmax(axis=1)),
        "severity_ece": expected_calibration_error(ps, ys),
        "n": int(len(idx)),
        "n_complaints": int(is_c.sum()),
    }


def calibrate_complaint(
    logits: dict[str, np.ndarray], rows: ComplaintRows, cal_idx: np.ndarray
) -> dict[str, Any]:
    t_c = fit_temperature(logits["complaint"][cal_idx], rows.complaint[cal_idx])
    is_c = cal_idx[rows.complaint[cal_idx] == 1]
    t_s = fit_temperature(logits["severity"][is_c], rows.severity[is_c] - 1)
    return {"complaint": {"temperature": t_c}, "severity": {"temperature": t_s}}


def folds(strata: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Seeded stratified k-fold: each stratum permuted and dealt round-robin."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for cls in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == cls))
        for j, i in enumerate(members):
            out[(j + offset) % k].append(int(i))
        offset += len(members)
    return [np.array(sorted(f), dtype=np.int64) for f in out]


CV_KEYS = (
    "complaint_macro_f1",
    "complaint_accuracy",
    "complaint_ece",
    "severity_macro_f1",
    "severity_accuracy",
    "severity_ece",
)


def cross_validate(
    model: Any, after_a: dict[str, Any], corpus: Corpus, recipe: Recipe, pad_id: int, path: Path, log: Log
) -> dict[str, Any]:
    """10-fold CV of stage B; each finished fold is written to `path` at once, and a rerun with the same
    recipe resumes after the last finished fold (a fold takes ~6 min on 2 cores)."""
    rows = corpus.rows
    protocol = (
        f"{CV_FOLDS}-fold stratified CV (strata: severity 0-4, seed {recipe.seed}); stage B retrained per fold "
        "from stage A, 10% of each training part held back to calibrate (torch fp32)"
    )
    result: dict[str, Any] = {
        "protocol": protocol,
        "recipe": recipe.as_dict(),
        "folds": [],
        "complete": False,
    }
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous.get("recipe") == result["recipe"] and previous.get("protocol") == protocol:
            result["folds"] = previous.get("folds", [])[:CV_FOLDS]
            if result["folds"]:
                log(f"resuming {path}: {len(result['folds'])} of {CV_FOLDS} folds already done")
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    for k, test_idx in enumerate(folds(rows.severity, CV_FOLDS, recipe.seed)):
        if k < len(result["folds"]):
            continue
        restore(model, after_a)
        rest = np.setdiff1d(np.arange(len(rows.texts)), test_idx)
        train_idx, cal_idx = split_calibration(rows, rest, recipe, recipe.seed + k)
        stage_b(model, corpus, train_idx, recipe, pad_id, f"fold {k + 1}/{CV_FOLDS}", recipe.seed + k)
        logits = predict_logits(model, corpus.row_ids, pad_id)
        figs = complaint_figures(logits, rows, test_idx, calibrate_complaint(logits, rows, cal_idx))
        result["folds"].append(figs)
        log(
            f"fold {k + 1}: complaint macro-F1 {figs['complaint_macro_f1']:.4f}, "
            f"severity macro-F1 {figs['severity_macro_f1']:.4f} ({elapsed(start)})"
        )
        summarise(result)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    summarise(result)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def summarise(result: dict[str, Any]) -> None:
    """Mean and sd over the folds done so far; `complete` says whether that is all of them."""
    done = result["folds"]
    result["summary"] = {
        key: {
            "mean": round(float(np.mean([f[key] for f in done])), 4),
            "sd": round(float(np.std([f[key] for f in done])), 4),
        }
        for key in CV_KEYS
    }
    result["folds_done"] = len(done)
    result["complete"] = len(done) == CV_FOLDS


def run(
    data_dir: Path | None,
    out: Path,
    cache: Path,
    recipe: Recipe,
    mode: str,
    log: Log,
    limit: int | None = None,
) -> dict[str, Any]:
    """mode: "ship" (train the model that ships), "cv" (10-fold figures), "inner-val" (recipe selection)."""
    set_threads()
    data = resolve_data_dir(data_dir)
    tokenizer, base = load_base()
    corpus = load_corpus(data, tokenizer, recipe, log, limit)
    pad_id = int(tokenizer.pad_token_id)
    model = build_model(base, recipe)
    record_a = stage_a(model, corpus, recipe, pad_id, cache, log)
    after_a = snapshot(model)
    rows = corpus.rows
    if mode == "inner-val":
        held_out = stratified_holdout(rows.severity, fraction=HOLDOUT_FRACTION, seed=recipe.seed)
        rest = np.flatnonzero(~held_out)
        train_idx, _cal = split_calibration(rows, rest, recipe, recipe.seed)
        inner = stratified_holdout(rows.severity[train_idx], fraction=0.2, seed=recipe.seed + 100)
        stage_b(model, corpus, train_idx[~inner], recipe, pad_id, "stage B (inner)", recipe.seed)
        logits = predict_logits(model, corpus.row_ids, pad_id)
        ones = {"complaint": {"temperature": 1.0}, "severity": {"temperature": 1.0}}
        figs = complaint_figures(logits, rows, train_idx[inner], ones)
        val = predict_logits(model, corpus.val.ids, pad_id)["sentiment"]
        figs["val_sentiment_macro_recall"] = macro_recall(corpus.val.labels, val.argmax(axis=1), 3)
        log(json.dumps({"inner_val": figs, "recipe": recipe.as_dict()}))
        return {"summary": figs}
    if mode == "cv":
        return cross_validate(model, after_a, corpus, recipe, pad_id, out / "cv.json", log)

    held_out = stratified_holdout(rows.severity, fraction=HOLDOUT_FRACTION, seed=recipe.seed)
    rest = np.flatnonzero(~held_out)
    train_idx, cal_idx = split_calibration(rows, rest, recipe, recipe.seed)
    stage_b(model, corpus, train_idx, recipe, pad_id, "stage B", recipe.seed)
    logits = predict_logits(model, corpus.row_ids, pad_id)
    # The calibration that ships is fitted afterwards on the exported model (finish -> calibrate); this one,
    # on the torch fp32 logits, only scores the fold for the record, as the CV folds are scored.
    torch_calibration = calibrate_complaint(logits, rows, cal_idx)
    from nlp.finetuned import save_model
    from nlp.lora import adapter_state

    meta = {
        "format": "earful-lora-1",
        "trained": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "recipe": recipe.as_dict(),
        "counts": corpus.counts,
        "stage_a": record_a,
        "split": {
            "method": "stratified_holdout(severity 0-4), then 10% of the rest for calibration",
            "fraction": HOLDOUT_FRACTION,
            "seed": recipe.seed,
            "held_out_ids": [int(i) for i in rows.ids[held_out]],
            "calibration_ids": [int(i) for i in rows.ids[cal_idx]],
        },
        "figures": {
            "held_out_torch_fp32": complaint_figures(
                logits, rows, np.flatnonzero(held_out), torch_calibration
            )
        },
    }
    save_model(out, adapter_state(model.encoder), head_arrays(model), meta)
    finish(data, out, log)
    return json.loads((out / MODEL_META).read_text(encoding="utf-8"))


def finish(data: Path, out: Path, log: Log) -> None:
    """Calibrate the saved model as it ships, then score it on the test data (both recorded in model.json)."""
    from nlp.training.calibrate import calibrate

    calibrate(out, data, log)
    attach_figures(data, out, log)


def attach_figures(data: Path, out: Path, log: Log) -> None:
    """Score the saved model as it ships (ONNX int8) on the test data and record it in model.json."""
    from nlp.training.report import figures

    meta_path = out / MODEL_META
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("figures", {}).update(figures(data, out, log))
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def with_overrides(recipe: Recipe, pairs: Sequence[str]) -> Recipe:
    from dataclasses import fields, replace

    types = {f.name: type(getattr(recipe, f.name)) for f in fields(recipe)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types or types[name] not in (int, float):
            raise SystemExit(f"--set: {name!r} is not a numeric Recipe field ({', '.join(sorted(types))})")
        changes[name] = types[name](value)
    return replace(recipe, **changes) if changes else recipe


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.training.multitask", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="datasets directory (default ../shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="artifacts directory (default nlp/artifacts)")
    parser.add_argument("--cache", type=Path, default=None, help="stage-A cache (default .cache/nlp)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cv", action="store_true", help="10-fold CV on complaints/severity; writes cv.json")
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)  # smoke runs
    parser.add_argument(
        "--finish-only", action="store_true", help="only calibrate and score the model already in --out"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a Recipe field (experiments)",
    )
    parser.add_argument(
        "--inner-val",
        action="store_true",
        help="recipe selection: stage B on 80%% of the training part, figures on the other 20%% (never the test fold)",
    )
    args = parser.parse_args(argv)
    from nlp.finetuned import packaged_artifacts_dir
    from nlp.training.cache import default_cache_dir

    out = args.out if args.out is not None else packaged_artifacts_dir()
    if args.finish_only:
        finish(resolve_data_dir(args.data), out, _stderr)
        return 0
    try:
        recipe = with_overrides(Recipe(seed=args.seed), args.set)
        mode = "cv" if args.cv else "inner-val" if args.inner_val else "ship"
        result = run(args.data, out, args.cache or default_cache_dir(), recipe, mode, _stderr, args.limit)
    except DataDirError as exc:
        _stderr(f"error: {exc}")
        return 2
    print(json.dumps(result.get("summary") or result["figures"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
