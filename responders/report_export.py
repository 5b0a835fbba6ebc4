"""The report's CSVs written by processes of their own, beside the one drawing the page: on two cores a
million-mention week takes half the time. `python -m responders.report_export` is that process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from responders.report_csv import write_csv
from responders.report_period import Period, range_period

_JOB = "EARFUL_REPORT_EXPORT"
NICENESS = 10


def export(url: str, period: Period, path: Path) -> dict[str, Any]:
    """`write_csv` from a connection of its own (in a second process): the rows written."""
    from store import Store

    store = Store(url)
    try:
        with store.read() as session:
            return {"rows": write_csv(session, period, path)}
    finally:
        store.dispose()


def start_export(url: str, period: Period, path: Path) -> subprocess.Popen[str]:
    """Write `path` in a second process (`python -m responders.report_export`) while this one goes on.

    The job, database URL included, goes in the child's environment, never its command line: the URL may hold a
    password, and `ps` shows arguments to every user of the machine (an environment only to its owner).
    """
    job = {"url": url, "start": period.start.isoformat(), "end": period.end.isoformat(), "path": str(path)}
    return subprocess.Popen(
        [sys.executable, "-m", "responders.report_export"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, _JOB: json.dumps(job)},
    )


def finish_export(child: subprocess.Popen[str], name: str) -> int:
    """Wait for `start_export`'s process: the rows it wrote, or RuntimeError saying why it failed."""
    out, err = child.communicate()
    try:
        done = json.loads(out) if child.returncode == 0 else None
    except ValueError:
        done = None
    if not isinstance(done, dict) or not isinstance(done.get("rows"), int):
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"writing {name} failed in its own process (exit {child.returncode}): {last}")
    return int(done["rows"])


def _export_main() -> None:
    # The page is what the reader waits for, and its figures come first: this process yields the processor to
    # the one computing them, and takes what is left (both finish sooner than on equal terms).
    os.nice(NICENESS)
    job = json.loads(os.environ.pop(_JOB))
    period = range_period(datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"]))
    print(json.dumps(export(job["url"], period, Path(job["path"]))))


if __name__ == "__main__":
    _export_main()
