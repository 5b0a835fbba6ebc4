"""One policy for every file that holds customer data (the database and its -wal/-shm, exports, reports, logs):
readable by its owner only. Files are 0600 and the directories earful creates for them 0700, whatever the umask;
a directory that was there already is the user's, and left as it is.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """`path` made, with any missing parents, each 0700; directories already there keep their mode."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is cut by the umask; this never gives more than 0700
    return path


def private_file(path: Path) -> Path:
    """`path` created empty and 0600 if absent; an existing file is made 0600 (a log from an older earful)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        os.chmod(path, FILE_MODE)
    return path


@contextmanager
def private_output(
    path: Path, *, binary: bool = False, encoding: str | None = None, newline: str | None = None
) -> Iterator[Any]:
    """A file to write `path` through: written beside it (0600) and renamed over it when the block ends, so a
    reader never sees half of it and an earlier file's looser mode goes with it. Nothing is left if it raises."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline=newline) as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(
    path: Path,
    write: Callable[[Any], object],
    *,
    binary: bool = False,
    encoding: str | None = None,
    newline: str | None = None,
) -> None:
    """`write(file)` into `path` through private_output."""
    with private_output(path, binary=binary, encoding=encoding, newline=newline) as out:
        write(out)
