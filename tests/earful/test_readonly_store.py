"""Commands that only read never create a database: a mistyped path is an error naming it, not a new empty
store; a URL that is not one is a one-line error, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

READERS = [
    ["status"],
    ["quarantine"],
    ["export", "mentions", "--format", "csv"],
    ["report", "--no-pdf"],
    ["alerts", "history"],
    ["customers", "export"],
]


def earful(args: list[str], tmp_path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env.update(
        {
            "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "EARFUL_DATABASE__URL": url,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "earful", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_sqlite_path_creates_nothing_and_says_so(tmp_path, args):
    missing = tmp_path / "typo" / "earfull.db"
    done = earful(args, tmp_path, f"sqlite:///{missing}")
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.startswith(f"earful: no database at {missing}.") and "EARFUL_DATABASE__URL" in done.stderr
    )
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not missing.parent.exists()


def test_a_file_that_is_no_earful_database_is_left_as_it_was(tmp_path):
    other = tmp_path / "photos.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE photo (id INTEGER PRIMARY KEY)")
    done = earful(["status"], tmp_path, f"sqlite:///{other}")
    assert done.returncode == 2 and "no earful database at" in done.stderr, done.stderr
    with sqlite3.connect(other) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"photo"}


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url", "cannot use the database URL not a url: it is not a database URL; use sqlite:///"),
        ("postgres//db", "it is not a database URL"),
        (
            "postgres://earful:hunter2@db.internal/earful",
            "earful reaches PostgreSQL through psycopg 3: write it postgresql+psycopg://earful:***@db.internal",
        ),
        ("mysql://earful:hunter2@db/earful", "earful has no driver for 'mysql'"),
    ],
)
def test_a_malformed_database_url_is_a_one_line_error(tmp_path, url, said):
    done = earful(["status"], tmp_path, url)
    assert done.returncode == 2
    assert done.stderr.startswith("earful: ") and said in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr
