"""Where logs go: a file while the desk owns the terminal, stderr otherwise. Never credentials."""

from __future__ import annotations

import logging
from pathlib import Path

from platformdirs import user_log_dir

from store.private import private_dir, private_file


def log_to_file(name: str, level: int = logging.INFO) -> Path:
    path = Path(user_log_dir("earful", appauthor=False)) / f"{name}.log"
    # A log quotes mentions and customers' names: owner-only, like every file holding customer data.
    private_file(private_dir(path.parent) / path.name)
    logging.basicConfig(
        filename=path,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    _quiet_libraries()
    return path


def log_to_stderr(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    _quiet_libraries()


def _quiet_libraries() -> None:
    # Request-level chatter from the HTTP stacks would bury what matters; their warnings still show.
    for noisy in (
        "urllib3",
        "requests_oauthlib",
        "oauthlib",
        "aiohttp.access",
        "httpx",
        "asyncio",
        "apprise",
        "alembic.runtime.plugins",  # a line per autogenerate plugin at every start, for no one
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
