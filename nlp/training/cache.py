"""Where training caches its slow intermediate results (.cache/nlp/, git-ignored), and progress with ETA."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

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

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        every: float = 5.0,
        verb: str = "embedding",
        unit: str = "",
    ) -> None:
        self.label = label
        self.verb = verb
        self.unit = unit
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
            f"  {self.verb} {self.label}: {done:,}/{self.total:,} ({pct:.0f}%) {rate:.1f}{self.unit}/s {tail}",
            file=self.stream,
            flush=True,
        )
