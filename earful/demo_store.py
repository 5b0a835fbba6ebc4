"""Where `earful demo` keeps its databases: a new file per run (each replay has fresh ids, so two must not mix),
the last few runs kept, each readable by its owner only, like every file holding customer data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from platformdirs import user_data_dir

from store.clock import utcnow
from store.private import private_dir

# Enough to go back to the run before last; a demo file is a few megabytes.
DEMO_KEEP = 5
_SUFFIXES = ("", "-wal", "-shm")


def demo_dir() -> Path:
    return Path(user_data_dir("earful", appauthor=False)) / "demos"


def demo_files(directory: Path | None = None) -> list[Path]:
    """The demo databases kept, oldest first (their names sort by when the run started)."""
    return sorted((directory or demo_dir()).glob("demo-*.db"))


def new_demo_database(now: datetime | None = None, directory: Path | None = None) -> Path:
    """A fresh file's path for this run; the oldest runs beyond DEMO_KEEP - 1 go, so DEMO_KEEP remain with it."""
    folder = private_dir(directory or demo_dir())
    moment = now or utcnow()
    path = folder / f"demo-{moment:%Y%m%d-%H%M%S}.db"
    number = 1
    while path.exists():  # two runs in one second
        number += 1
        path = folder / f"demo-{moment:%Y%m%d-%H%M%S}-{number}.db"
    older = demo_files(folder)
    for stale in older[: max(0, len(older) - (DEMO_KEEP - 1))]:
        for suffix in _SUFFIXES:
            Path(f"{stale}{suffix}").unlink(missing_ok=True)
    return path


def latest_demo_database() -> Path | None:
    files = demo_files()
    return files[-1] if files else None
