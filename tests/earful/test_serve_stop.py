"""`earful serve`, the real command, through a database outage: SIGTERM still ends it cleanly (exit 0, one line
saying what is left, no traceback). The outbox loop used to die with the outage and take the exit code with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.timeout(120)

CONFIG = """
[x]
enabled = false
[mastodon]
enabled = false
[bluesky]
enabled = false
[reddit]
enabled = false

[[brands]]
name = "acme"
terms = ["acme"]
"""


def migrated(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is not None
    finally:
        engine.dispose()


def test_serve_stops_cleanly_after_a_database_outage(tmp_path: Path, own_pg) -> None:
    config = tmp_path / "earful.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "EARFUL_DATABASE__URL": own_pg.url,
        # The outbox looks every half second, so it meets the outage several times.
        "EARFUL_PIPELINE__OUTBOX_RETRY_SECONDS": "0.5",
    }
    env.pop("EARFUL_CONFIG", None)
    errors = (tmp_path / "serve.log").open("w+")
    serve = subprocess.Popen(
        [sys.executable, "-m", "earful", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not migrated(own_pg.url):
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not migrate its database"
            time.sleep(0.2)
        time.sleep(2)
        own_pg.down()
        time.sleep(4)
        assert serve.poll() is None, "serve keeps running while the database is away"
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
        own_pg.up()
    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "queued replies stay queued" in log, "stopping says what is left to send, database or not"
