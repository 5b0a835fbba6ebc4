"""Train the shipped heads: `python -m nlp.training.train [--data DIR] [--out nlp/artifacts] [--seed 13]`.

Seeded and reproducible. The slow part is embedding ~50k tweets once (cached under .cache/nlp/);
fitting and selecting heads then takes about a minute on a laptop CPU.

Selection never sees a test set: sentiment hyper-parameters are chosen on TweetEval val, complaint and
severity ones by 5-fold cross-validation inside the training part of the complaint data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.encoder import Encoder
from nlp.heads import Head, packaged_artifacts_dir, save_heads
from nlp.training.cache import default_cache_dir, embed_cached
from nlp.training.data import (
    SENTIMENT_LABELS,
    SEVERITY_LABELS,
    DataDirError,
    complaint_rows,
    resolve_data_dir,
    semeval_pool,
    stratified_holdout,
    tweeteval,
)
from nlp.training.fit import Candidate, cross_validate, fit, score_on

HOLDOUT_FRACTION = 0.2
CV_FOLDS = 5
PROBE_TEXT = "@user my order never arrived and nobody answers, this is the worst service ever"

SENTIMENT_GRID = [
    *(Candidate("logreg", {"c": c, "balanced": True}) for c in (1.0, 3.0, 10.0, 30.0)),
    *(
        Candidate("mlp", {"hidden": 512, "weight_decay": 0.01, "epochs": ep, "balanced": True})
        for ep in (8, 16)
    ),
]
COMPLAINT_GRID = [
    *(Candidate("logreg", {"c": c, "balanced": b}) for c in (0.3, 1.0, 3.0) for b in (False, True)),
    *(
        Candidate("mlp", {"hidden": 256, "weight_decay": 0.01, "epochs": ep, "balanced": True})
        for ep in (20, 40, 80)
    ),
]
SEVERITY_GRID = [
    *(Candidate("logreg", {"c": c, "balanced": True}) for c in (0.1, 0.3, 1.0, 3.0)),
    *(
        Candidate("mlp", {"hidden": 128, "weight_decay": 0.01, "epochs": ep, "balanced": True})
        for ep in (40, 80)
    ),
]

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _select(
    name: str,
    grid: Sequence[Candidate],
    score: Callable[[Candidate], float],
    log: Log,
) -> tuple[Candidate, list[dict[str, Any]]]:
    tried: list[dict[str, Any]] = []
    scores: list[float] = []
    for candidate in grid:
        value = score(candidate)
        scores.append(value)
        tried.append({"model": candidate.describe(), "score": round(value, 4)})
        log(f"  {name}: {candidate.describe():<60} {value:.4f}")
    best = max(range(len(grid)), key=lambda i: scores[i])  # first of equals: the simpler/earlier one
    return grid[best], tried


def train(
    data_dir: Path | None = None,
    out: Path | None = None,
    seed: int = 13,
    *,
    encoder: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    evaluate: bool = True,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Fit, select and export the three heads to `out`; return the metadata written to meta.json."""
    data = resolve_data_dir(data_dir)
    out = out if out is not None else packaged_artifacts_dir()
    cache = (cache_dir if cache_dir is not None else default_cache_dir()) if use_cache else None
    log(f"data: {data}\nout: {out}\nseed: {seed}")

    log("loading encoder ...")
    enc = Encoder.load(encoder, batch_size=64)

    def embed(texts: list[str], label: str) -> np.ndarray:
        return embed_cached(enc, texts, label=label, cache_dir=cache, log=log)

    log("reading data ...")
    pool = semeval_pool(data)
    val = tweeteval(data, "val")
    rows = complaint_rows(data)
    held_out = stratified_holdout(rows.severity, fraction=HOLDOUT_FRACTION, seed=seed)
    log(f"  sentiment pool {pool.counts}")
    log(f"  complaints: {len(rows.ids)} rows, held out {int(held_out.sum())} (stratified by severity level)")

    x_rows = embed(rows.texts, "complaints")
    x_val = embed(val.texts, "tweeteval-val")
    x_pool = embed(pool.data.texts, "sentiment-train")

    log("selecting heads ...")
    y_pool = pool.data.labels
    sent_best, sent_tried = _select(
        "sentiment (TweetEval val macro recall)",
        SENTIMENT_GRID,
        lambda c: score_on(
            fit(c, x_pool, y_pool, SENTIMENT_LABELS, name="s", seed=seed), x_val, val.labels, "macro_recall"
        ),
        log,
    )
    train_rows = ~held_out
    x_c, y_c = x_rows[train_rows], rows.complaint[train_rows]
    comp_labels = ("not_complaint", "complaint")
    comp_best, comp_tried = _select(
        f"complaint ({CV_FOLDS}-fold CV macro F1)",
        COMPLAINT_GRID,
        lambda c: cross_validate(c, x_c, y_c, comp_labels, metric="macro_f1", k=CV_FOLDS, seed=seed),
        log,
    )
    sev_rows = train_rows & (rows.complaint == 1)
    x_s, y_s = x_rows[sev_rows], rows.severity[sev_rows] - 1
    sev_best, sev_tried = _select(
        f"severity ({CV_FOLDS}-fold CV macro F1)",
        SEVERITY_GRID,
        lambda c: cross_validate(c, x_s, y_s, SEVERITY_LABELS, metric="macro_f1", k=CV_FOLDS, seed=seed),
        log,
    )

    log("fitting the chosen heads on all their training rows ...")
    heads: dict[str, Head] = {
        "sentiment": fit(sent_best, x_pool, y_pool, SENTIMENT_LABELS, name="sentiment", seed=seed),
        "complaint": fit(comp_best, x_c, y_c, comp_labels, name="complaint", seed=seed),
        "severity": fit(sev_best, x_s, y_s, SEVERITY_LABELS, name="severity", seed=seed),
    }
    meta: dict[str, Any] = {
        "encoder": enc.name,
        "embedding": {
            "dim": enc.dim,
            "pooling": "mean over attention mask, L2-normalised",
            "max_length": enc.max_length,
        },
        "encoder_probe": {
            "text": PROBE_TEXT,
            "embedding": [round(float(v), 6) for v in enc.embed([PROBE_TEXT])[0]],
        },
        "seed": seed,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training_command": f"python -m nlp.training.train --seed {seed}",
        "heads": {
            "sentiment": {
                "model": sent_best.describe(),
                "data": "SemEval-2017 4A pool (11 files, tweet_id deduped) minus TweetEval val/test matches",
                "counts": pool.counts,
                "selection": {
                    "on": f"TweetEval val ({len(val.texts)})",
                    "metric": "macro_recall",
                    "tried": sent_tried,
                },
            },
            "complaint": {
                "model": comp_best.describe(),
                "data": "complaints-preotiuc2019 minus the held-out fold",
                "counts": {"train": int(train_rows.sum()), "complaint": int(y_c.sum())},
                "selection": {
                    "on": f"{CV_FOLDS}-fold CV on training rows",
                    "metric": "macro_f1",
                    "tried": comp_tried,
                },
            },
            "severity": {
                "model": sev_best.describe(),
                "data": "X-CI severity of the complaints in the training rows (labels 1..4 -> index 0..3)",
                "counts": {
                    "train": int(sev_rows.sum()),
                    **{lab: int((y_s == i).sum()) for i, lab in enumerate(SEVERITY_LABELS)},
                },
                "selection": {
                    "on": f"{CV_FOLDS}-fold CV on training complaints",
                    "metric": "macro_f1",
                    "tried": sev_tried,
                },
                "note": "level names inferred from ordinal order + class sizes (see its SOURCE.md)",
            },
        },
        "split": {
            "method": (
                "nlp.training.data.stratified_holdout: strata = severity level (0 = not a complaint, 1..4); "
                "ceil(20% of rows) shared out by largest remainder; numpy default_rng(seed).permutation per "
                "stratum in ascending stratum order. Ids are 1-based rows of complaints-data.csv."
            ),
            "fraction": HOLDOUT_FRACTION,
            "seed": seed,
            "held_out_ids": [int(i) for i in rows.ids[held_out]],
        },
    }
    save_heads(out, heads, meta)
    log(f"wrote {out}")

    if evaluate:
        from nlp.training.report import figures

        meta["figures"] = figures(data, out, cache, log)
        save_heads(out, heads, meta)
        log(f"wrote figures to {out / 'meta.json'}")
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.training.train", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="shared data folder (default: ../shared/data)"
    )
    parser.add_argument("--out", type=Path, default=None, help="artifacts folder (default: nlp/artifacts)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--encoder", default=None, help="hub name or local path (default: packaged MiniLM)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: .cache/nlp)")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh, write no cache")
    parser.add_argument("--no-eval", action="store_true", help="skip the test-set figures at the end")
    args = parser.parse_args(argv)
    try:
        train(
            args.data, args.out, args.seed, encoder=args.encoder, cache_dir=args.cache,
            use_cache=not args.no_cache, evaluate=not args.no_eval,
        )  # fmt: skip
    except DataDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
