"""Readers for the shared research data sets. The only module of ours that opens ../shared/data.

Each reader returns plain lists so the training and evaluation code stays independent of pandas.
The recipes follow the SOURCE.md next to each data set; read those before changing anything here.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.text import normalize

ENV_DATA_DIR = "EARFUL_DATA_DIR"
SENTIMENT_LABELS = ("negative", "neutral", "positive")
SEVERITY_LABELS = ("No explicit reproach", "Disapproval", "Accusation", "Blame")

SEMEVAL_DIR = "semeval2017-task4a"
TWEETEVAL_DIR = "tweeteval-sentiment"
COMPLAINTS_CSV = Path("complaints-preotiuc2019") / "complaints-data.csv"
SEVERITY_CSV = Path("complaint-severity-xci") / "X-CI Dataset.csv"


class DataDirError(FileNotFoundError):
    """The shared data folder is missing or incomplete; the message says how to point at it."""


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser().resolve()
    # nlp/training/data.py -> parents[2] is the repository; the data lives in the sibling `shared` folder.
    return (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def resolve_data_dir(data_dir: Path | None) -> Path:
    path = Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()
    needed = [SEMEVAL_DIR, TWEETEVAL_DIR, str(COMPLAINTS_CSV), str(SEVERITY_CSV)]
    missing = [name for name in needed if not (path / name).exists()]
    if missing:
        raise DataDirError(
            f"training data not found under {path} (missing: {', '.join(missing)}). "
            f"Pass --data DIR or set {ENV_DATA_DIR}=DIR to the folder holding the data sets "
            "(by default the `shared/data` folder next to the repository)."
        )
    return path


# ---------------------------------------------------------------- sentiment


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: np.ndarray  # int class indices


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_DEDUP_DROP = re.compile(r"@\w+|https?://\S+|www\.\S+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def _decode_escapes(text: str) -> str:
    # The 2013 files carry literal "\u2019"-style escapes instead of the characters.
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def overlap_key(text: str) -> str:
    """SOURCE.md's key for matching pool tweets to TweetEval lines: lowercase, no handles/URLs, [a-z0-9]."""
    text = _decode_escapes(text).lower()
    return _NOT_ALNUM.sub("", _DEDUP_DROP.sub("", text))


def _read_lines(path: Path) -> list[str]:
    # TweetEval lines end with a trailing space; newline="\n" keeps stray \r inside a tweet from splitting it.
    with path.open(encoding="utf-8", newline="\n") as fh:
        return [line.rstrip("\n").rstrip() for line in fh]


def tweeteval(data_dir: Path, split: str) -> LabelledTexts:
    """TweetEval sentiment `val` or `test` (0 negative, 1 neutral, 2 positive)."""
    base = data_dir / TWEETEVAL_DIR
    texts = _read_lines(base / f"{split}_text.txt")
    labels = np.array([int(x) for x in _read_lines(base / f"{split}_labels.txt")], dtype=np.int64)
    if len(texts) != len(labels):
        raise ValueError(f"TweetEval {split}: {len(texts)} texts but {len(labels)} labels")
    return LabelledTexts([normalize(t) for t in texts], labels)


@dataclass(frozen=True)
class SentimentPool:
    data: LabelledTexts
    counts: dict[str, int]


def semeval_pool(data_dir: Path) -> SentimentPool:
    """SemEval-2013..2016 pool minus TweetEval val (and, defensively, test), per the SOURCE.md recipe."""
    files = sorted((data_dir / SEMEVAL_DIR / "downloaded").glob("*.tsv"))
    if len(files) != 11:
        raise DataDirError(f"expected the 11 SemEval-2017 4A files, found {len(files)}")
    rows: dict[str, tuple[str, str]] = {}
    n_raw = 0
    for path in files:
        with path.open(encoding="utf-8", newline="\n") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3:
                    continue
                n_raw += 1
                tweet_id, label, text = parts[0], parts[1], parts[2]
                rows.setdefault(tweet_id, (label, text))  # first file in sorted order wins

    held_out = {
        split: {k for k in map(overlap_key, _read_lines(data_dir / TWEETEVAL_DIR / f"{split}_text.txt")) if k}
        for split in ("val", "test")
    }
    texts: list[str] = []
    labels: list[int] = []
    dropped = {"val": 0, "test": 0}
    for label, raw in rows.values():
        key = overlap_key(raw)
        if key in held_out["val"]:
            dropped["val"] += 1
            continue
        if key in held_out["test"]:
            dropped["test"] += 1
            continue
        texts.append(normalize(_decode_escapes(raw)))
        labels.append(SENTIMENT_LABELS.index(label))
    counts = {
        "rows_read": n_raw,
        "unique_tweet_ids": len(rows),
        "dropped_matching_tweeteval_val": dropped["val"],
        "dropped_matching_tweeteval_test": dropped["test"],
        "train": len(texts),
    }
    counts.update({name: labels.count(i) for i, name in enumerate(SENTIMENT_LABELS)})
    return SentimentPool(LabelledTexts(texts, np.array(labels, dtype=np.int64)), counts)


# ---------------------------------------------------------------- complaints and severity


@dataclass(frozen=True)
class ComplaintRows:
    """The 3,449 Preotiuc-Pietro tweets; `ids` are 1-based row numbers (the X-CI join key)."""

    ids: np.ndarray
    texts: list[str]
    complaint: np.ndarray  # 0/1
    severity: np.ndarray  # 0 for non-complaints (and the one row X-CI lacks), else 1..4
    domains: list[str]


def complaint_rows(data_dir: Path) -> ComplaintRows:
    with (data_dir / COMPLAINTS_CSV).open(encoding="utf-8", newline="") as fh:
        base = list(csv.reader(fh))
    with (data_dir / SEVERITY_CSV).open(encoding="utf-8", newline="") as fh:
        xci = {int(r["id"]): r for r in csv.DictReader(fh)}

    ids, texts, complaint, severity, domains = [], [], [], [], []
    mismatches = 0
    for row_no, (_tweet_id, text, label, domain) in enumerate(base, start=1):
        sev = 0
        if row_no in xci:
            extra = xci[row_no]
            if int(extra["label"]) != int(label) or extra["domain"] != domain:
                mismatches += 1
            sev = int(extra["Severity"])
        elif int(label) == 1:
            raise ValueError(f"complaint row {row_no} has no severity label in X-CI")
        ids.append(row_no)
        texts.append(normalize(text))
        complaint.append(int(label))
        severity.append(sev)
        domains.append(domain)
    if mismatches:
        raise ValueError(f"X-CI disagrees with complaints-data.csv on {mismatches} rows; the join is off")
    return ComplaintRows(
        np.array(ids, dtype=np.int64),
        texts,
        np.array(complaint, dtype=np.int64),
        np.array(severity, dtype=np.int64),
        domains,
    )


def stratified_holdout(strata: np.ndarray, *, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a seeded stratified hold-out: ceil(fraction * n) rows, shared out by largest remainder.

    Written out rather than taken from sklearn so the fold is reproducible from (seed, method) alone,
    whatever sklearn version is installed.
    """
    n_test = int(np.ceil(fraction * len(strata)))
    classes, sizes = np.unique(strata, return_counts=True)
    exact = sizes * n_test / len(strata)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: n_test - take.sum()]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(strata), dtype=bool)
    for cls, k in zip(classes, take, strict=True):
        members = np.flatnonzero(strata == cls)
        mask[rng.permutation(members)[:k]] = True
    return mask


def select(items: Iterable[str], mask: np.ndarray) -> list[str]:
    return [t for t, keep in zip(items, mask, strict=True) if keep]


# ---------------------------------------------------------------- unlabelled traffic


def twcs_inbound(data_dir: Path) -> list[str]:
    """Raw customer tweets (inbound=True) of the first 5,000 TWCS rows: unlabelled support traffic."""
    path = data_dir / "twcs-sample" / "twcs.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:  # no newline translation: keep lone \r visible
        raw = fh.read()
    raw = re.sub(r"\r(?!\n)", " ", raw)  # lone \r inside a few tweets would split csv rows
    return [r["text"] for r in csv.DictReader(io.StringIO(raw)) if r["inbound"] == "True"]


# ---------------------------------------------------------------- extra training sets (never evaluated on)

AIRLINE_CSV = Path("twitter-airline-sentiment") / "Tweets.csv"
XFINCORP_CSV = Path("financial-complaints-xfincorp") / "X-FINCORP.csv"


def airline_sentiment(data_dir: Path, *, exclude: set[str] | None = None) -> LabelledTexts:
    """Twitter US Airline Sentiment (14,640 brand mentions), minus rows whose overlap key is in `exclude`."""
    texts: list[str] = []
    labels: list[int] = []
    with (data_dir / AIRLINE_CSV).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if exclude and overlap_key(row["text"]) in exclude:
                continue
            texts.append(normalize(row["text"]))
            labels.append(SENTIMENT_LABELS.index(row["airline_sentiment"]))
    return LabelledTexts(texts, np.array(labels, dtype=np.int64))


@dataclass(frozen=True)
class FincorpRows:
    texts: list[str]
    complaint: np.ndarray  # 0/1
    severity: np.ndarray  # 0 for non-complaints, else 1..4 in SEVERITY_LABELS order


def xfincorp(data_dir: Path, *, exclude: set[str] | None = None) -> FincorpRows:
    """X-FINCORP (6,280 banking/fintech tweets): complaint label and the *named* severity level."""
    names = {name.lower(): i + 1 for i, name in enumerate(SEVERITY_LABELS)}
    texts, complaint, severity = [], [], []
    with (data_dir / XFINCORP_CSV).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = row["Complaint/ Opinion"]
            if not text.strip() or (exclude and overlap_key(text) in exclude):
                continue
            label = int(row["Complaint Label"])
            level = names.get(row["Severity level"].strip().lower(), 0)
            if label == 1 and level == 0:
                continue  # a complaint without a level cannot train the severity head; 0 such rows today
            texts.append(normalize(text))
            complaint.append(label)
            severity.append(level if label else 0)
    return FincorpRows(texts, np.array(complaint, dtype=np.int64), np.array(severity, dtype=np.int64))
