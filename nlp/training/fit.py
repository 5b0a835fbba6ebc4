"""Fitting heads on frozen embeddings and choosing their hyper-parameters without touching test data.

Two families: multinomial logistic regression (sklearn) and a one-hidden-layer MLP (torch). Both end as
a numpy `Head`, so inference never needs sklearn or the training code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlp.heads import Head
from nlp.training.metrics import macro_f1, macro_recall

Metric = Callable[[np.ndarray, np.ndarray, int], float]
METRICS: dict[str, Metric] = {"macro_recall": macro_recall, "macro_f1": macro_f1}


@dataclass(frozen=True)
class Candidate:
    kind: str  # "logreg" | "mlp"
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({inner})"


def _class_weights(y: np.ndarray, n_classes: int, balanced: bool) -> np.ndarray:
    if not balanced:
        return np.ones(n_classes)
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return len(y) / (n_classes * np.maximum(counts, 1.0))


def fit_logreg(
    x: np.ndarray, y: np.ndarray, labels: Sequence[str], *, name: str, c: float, balanced: bool, seed: int
) -> Head:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=c, class_weight="balanced" if balanced else None, max_iter=5000, random_state=seed
    )
    model.fit(x, y)
    coef = model.coef_.astype(np.float32)
    bias = model.intercept_.astype(np.float32)
    if coef.shape[0] == 1:  # binary: softmax over logits (0, z) equals sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        bias = np.concatenate([np.zeros(1, dtype=np.float32), bias])
    return Head(name, tuple(labels), ((coef.T.copy(), bias),))


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    name: str,
    hidden: int,
    weight_decay: float,
    epochs: int,
    balanced: bool,
    seed: int,
    dropout: float = 0.2,
    lr: float = 1e-3,
    batch_size: int = 128,
) -> Head:
    import torch

    torch.manual_seed(seed)
    n_classes = len(labels)
    model = torch.nn.Sequential(
        torch.nn.Dropout(dropout),
        torch.nn.Linear(x.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, n_classes),
    )
    weights = torch.tensor(_class_weights(y, n_classes, balanced), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch_size):
            idx = perm[start : start + batch_size]
            optim.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            optim.step()
    model.eval()
    first: Any = model[1]
    second: Any = model[4]
    layers = (
        (first.weight.detach().numpy().T.copy(), first.bias.detach().numpy().copy()),
        (second.weight.detach().numpy().T.copy(), second.bias.detach().numpy().copy()),
    )
    return Head(name, tuple(labels), layers)


def fit(
    candidate: Candidate, x: np.ndarray, y: np.ndarray, labels: Sequence[str], *, name: str, seed: int
) -> Head:
    p = candidate.params
    if candidate.kind == "logreg":
        return fit_logreg(x, y, labels, name=name, c=p["c"], balanced=p["balanced"], seed=seed)
    if candidate.kind == "mlp":
        return fit_mlp(
            x, y, labels, name=name, hidden=p["hidden"], weight_decay=p["weight_decay"],
            epochs=p["epochs"], balanced=p["balanced"], seed=seed,
        )  # fmt: skip
    raise ValueError(f"unknown head kind {candidate.kind!r}")


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """k disjoint index arrays, each class dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        for j, idx in enumerate(members):
            folds[(j + offset) % k].append(int(idx))
        offset += len(members)
    return [np.array(sorted(f), dtype=np.int64) for f in folds]


def score_on(head: Head, x: np.ndarray, y: np.ndarray, metric: str) -> float:
    pred = head.predict_proba(x).argmax(axis=1)
    return METRICS[metric](y, pred, len(head.labels))


def cross_validate(
    candidate: Candidate,
    x: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    metric: str,
    k: int,
    seed: int,
) -> float:
    """Pooled out-of-fold `metric` over k stratified folds of the training rows."""
    pred = np.empty(len(y), dtype=np.int64)
    for fold in stratified_folds(y, k, seed):
        train = np.setdiff1d(np.arange(len(y)), fold)
        head = fit(candidate, x[train], y[train], labels, name="cv", seed=seed)
        pred[fold] = head.predict_proba(x[fold]).argmax(axis=1)
    return METRICS[metric](y, pred, len(labels))
