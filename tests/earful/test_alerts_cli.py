"""`earful alerts rules|test|history` as a user runs them: real processes, a real webhook on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from alert_kit import Receiver, closed_port
from sqlmodel import select

from responders.alert_rules import TierRule
from responders.alerts import AlertSettings, queue_alerts
from responders.subscribers import Subscriber
from store import Store
from store.mentions import save_mentions
from store.models import AlertEvent

EARFUL = [sys.executable, "-m", "earful"]


def run(args: list[str], tmp_path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), **env}
    environment.pop("EARFUL_CONFIG", None)
    return subprocess.run(
        EARFUL + args, capture_output=True, text=True, timeout=120, env=environment, check=False
    )


CONFIG = """
[[alerts.rules]]
name = "urgent-mention"
kind = "tier"

[[alerts.rules]]
name = "incident"
kind = "incident"
min_customers = 4

[[alerts.subscribers]]
name = "oncall"
url_env = "ONCALL_URL"

[[alerts.subscribers]]
name = "pr-lead"
url_env = "PR_URL"
rules = ["incident"]
"""


def test_rules_test_message_and_history(tmp_path, make_mention):
    server = Receiver()
    dead_port = closed_port()
    config = tmp_path / "earful.toml"
    config.write_text(CONFIG, encoding="utf-8")
    database = f"sqlite:///{tmp_path}/e.db"
    env = {
        "ONCALL_URL": server.url,
        "PR_URL": f"json://pr:s3cretpass@127.0.0.1:{dead_port}/hook",
        "EARFUL_DATABASE__URL": database,
    }
    try:
        rules = run(["alerts", "rules", "-c", str(config)], tmp_path, env)
        assert rules.returncode == 0, rules.stderr
        assert "urgent-mention [tier]" in rules.stdout and "min_customers=4" in rules.stdout
        assert "to: oncall, pr-lead" in rules.stdout.split("incident [incident]")[1]
        assert "127.0.0.1" not in rules.stdout  # subscriber URLs are secrets

        ok = run(["alerts", "test", "oncall", "-c", str(config)], tmp_path, env)
        assert ok.returncode == 0 and "Test alert delivered to oncall" in ok.stdout
        assert server.titles and "earful test alert" in server.titles[0]

        down = run(["alerts", "test", "pr-lead", "-c", str(config)], tmp_path, env)
        assert down.returncode == 1 and "the test alert to pr-lead failed" in down.stderr
        assert "s3cretpass" not in down.stderr + down.stdout

        unknown = run(["alerts", "test", "nobody", "-c", str(config)], tmp_path, env)
        assert unknown.returncode == 2 and "subscribers: oncall, pr-lead" in unknown.stderr

        store = Store(database)
        store.migrate()
        settings = AlertSettings(
            rules=[TierRule(name="urgent-mention")],
            subscribers=[Subscriber(name="oncall", url="json://127.0.0.1:9/x")],
        )
        with store.write() as session:
            stored = save_mentions([make_mention("1", tier="critical", urgency=93)], session=session).stored
            queue_alerts(
                stored, session=session, settings=settings, now=datetime(2026, 11, 16, 9, 5, tzinfo=UTC)
            )
            event = session.exec(select(AlertEvent)).one()
            event.attempts, event.error = 3, "2026-11-16T09:07:00+00:00 attempt 3: connection refused"
            session.add(event)
        store.dispose()
        history = run(["alerts", "history", "-c", str(config)], tmp_path, env)
        assert history.returncode == 0, history.stderr
        first, deliveries = history.stdout.splitlines()[:2]
        assert "2026-11-16 09:05 UTC  urgent-mention  Critical complaint about acme on X from @u1" in first
        assert deliveries.strip() == "oncall: waiting to send after 3 attempts (connection refused)"
        as_json = run(["alerts", "history", "--json", "-c", str(config)], tmp_path, env)
        row = json.loads(as_json.stdout.splitlines()[0])
        assert row["rule"] == "urgent-mention" and row["deliveries"][0]["status"] == "pending"
    finally:
        server.close()
