"""What `earful demo` leaves behind: each run's database kept (the last few), owner-only, and a quit message
whose command runs as printed, from the checkout, with the venv not on PATH (as after `make demo`)."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from earful.demo import demo_database, farewell
from earful.demo_store import DEMO_KEEP, new_demo_database
from store import Store

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_each_demo_run_keeps_its_own_database_and_the_last_few(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    first = Store(demo_database())
    first.migrate()
    second_url = demo_database()
    assert second_url != first.url
    # The run before is still there, whole: its quit message said "kept".
    kept = Path(first.url.removeprefix("sqlite:///"))
    assert kept.exists() and kept.stat().st_size > 0
    first.dispose()

    folder = kept.parent
    later = datetime.now(UTC) + timedelta(days=1)
    made = []
    for i in range(DEMO_KEEP + 3):
        made.append(new_demo_database(later + timedelta(minutes=i), folder))
        made[-1].write_bytes(b"a run")
    # The newest runs stay, this one with them; the oldest go, with their -wal and -shm.
    assert sorted(folder.glob("demo-*")) == made[-DEMO_KEEP:]


def test_a_new_database_and_its_wal_are_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    old = os.umask(0o022)
    try:
        store = Store(demo_database())
        store.migrate()
        path = Path(store.url.removeprefix("sqlite:///"))
        with store.write() as session:
            session.connection().exec_driver_sql("CREATE TABLE scratch (x)")
            wal = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
            assert all(p.exists() for p in wal)
            assert [mode(p) for p in (path, *wal)] == [0o600] * 3
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
        store.dispose()
    finally:
        os.umask(old)


def test_the_quit_message_names_a_command_that_runs_as_printed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = Store(demo_database())
    store.migrate()
    store.dispose()
    where, command_line = farewell(store.url, tmp_path / "demo.log", kept=True)
    assert f"kept at {store.url}" in where and f"the last {DEMO_KEEP} runs are kept" in where
    command = command_line.removeprefix("Open it again with: ")
    assert command.endswith(" tui")
    # `tui` needs a terminal; the same command with `status` proves it finds this earful and this database.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env |= {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = subprocess.run(
        ["bash", "-c", command.removesuffix(" tui") + " status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (command, done.stderr)
    assert "0 mentions stored" in done.stdout
