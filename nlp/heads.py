"""Classification heads over the frozen embeddings, stored as plain numpy arrays.

A head is a stack of dense layers (ReLU between, softmax on top); a logistic regression is a stack of one.
Inference needs numpy only, so the runtime never imports sklearn, and the artifacts stay small:
`heads.npz` holds `<head>.W<i>` / `<head>.b<i>`, `meta.json` holds labels and provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HEADS_FILE = "heads.npz"
META_FILE = "meta.json"
HEAD_NAMES = ("sentiment", "complaint", "severity")


class ArtifactsError(FileNotFoundError):
    """The trained heads are missing or unreadable; the message names the fix."""


def packaged_artifacts_dir() -> Path:
    return Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class Head:
    name: str
    labels: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (W: in x out, b: out)

    @property
    def input_dim(self) -> int:
        return int(self.layers[0][0].shape[0])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < last:
                h = np.maximum(h, 0.0)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(axis=1, keepdims=True)


def save_heads(directory: Path, heads: Mapping[str, Head], meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for name, head in heads.items():
        for i, (w, b) in enumerate(head.layers):
            arrays[f"{name}.W{i}"] = w.astype(np.float32)
            arrays[f"{name}.b{i}"] = b.astype(np.float32)
    meta = {**meta, "labels": {name: list(h.labels) for name, h in heads.items()}}
    np.savez_compressed(directory / HEADS_FILE, **arrays)  # type: ignore[arg-type]
    (directory / META_FILE).write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def load_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.exists():
        raise ArtifactsError(
            f"model metadata not found: {path}. Train the heads with `make train` "
            "(or `python -m nlp.training.train`), or point artifacts_dir at a trained set."
        )
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return meta


def load_heads(directory: Path) -> tuple[dict[str, Head], dict[str, Any]]:
    meta = load_meta(directory)
    path = directory / HEADS_FILE
    if not path.exists():
        raise ArtifactsError(f"model heads not found: {path}. Train them with `make train`.")
    heads: dict[str, Head] = {}
    with np.load(path) as npz:
        for name in HEAD_NAMES:
            layers = []
            i = 0
            while f"{name}.W{i}" in npz:
                layers.append((npz[f"{name}.W{i}"], npz[f"{name}.b{i}"]))
                i += 1
            if not layers:
                raise ArtifactsError(f"{path} has no '{name}' head; retrain with `make train`.")
            heads[name] = Head(name, tuple(meta["labels"][name]), tuple(layers))
    return heads, meta
