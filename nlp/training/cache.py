"""Embedding cache and progress reporting for the slow step of training: encoding ~50k tweets.

Embeddings are keyed by a hash of everything that changes them (encoder, max_length, the texts), so a
stale cache can never be read back; the files live under .cache/nlp/ which git ignores.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from nlp.encoder import Encoder

ENV_CACHE_DIR = "EARFUL_CACHE_DIR"


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / ".cache" / "nlp"


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts done/total and prints rate and ETA on a stream (stderr), at most every `every` seconds."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if done < self.total and now - self._last < self.every:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else 0.0
        pct = 100.0 * done / self.total if self.total else 100.0
        tail = f"done in {_fmt_duration(elapsed)}" if done >= self.total else f"ETA {_fmt_duration(eta)}"
        print(
            f"  embedding {self.label}: {done:,}/{self.total:,} ({pct:.0f}%) {rate:.0f}/s {tail}",
            file=self.stream,
            flush=True,
        )


def cache_key(encoder: Encoder, texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{encoder.name}\0{encoder.max_length}\0{len(texts)}\0".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def embed_cached(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    label: str,
    cache_dir: Path | None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Embed `texts`, reusing `cache_dir/<label>-<key>.npy` when present; cache_dir None disables caching."""
    path = cache_dir / f"{label}-{cache_key(encoder, texts)}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        cached = np.load(path)
        if cached.shape == (len(texts), encoder.dim):
            if log:
                log(f"  embedding {label}: {len(texts):,} texts from cache {path.name}")
            return cached
    callback = Progress(label, len(texts)) if progress else None
    vectors = encoder.embed(texts, progress=callback)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)  # atomic, so an interrupted run never leaves a truncated cache file
    return vectors
