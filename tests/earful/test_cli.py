"""The earful command as a user runs it: real processes, real files, no network but the local sandbox."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

EARFUL = [sys.executable, "-m", "earful"]


def run(args: list[str], tmp_path, stdin: str | None = None, env: dict | None = None, timeout: float = 240):
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    environment.pop("EARFUL_CONFIG", None)
    environment.update(env or {})
    return subprocess.run(
        EARFUL + args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )


def test_classify_scores_each_line_and_names_bad_ones(tmp_path):
    lines = [
        json.dumps(
            {
                "text": "@AcmeHelp my order #123456 never arrived and nobody answers. Disgusting.",
                "followers": 90000,
            }
        ),
        "{not json",
        '{"text": ' + "[" * 100_000,
        json.dumps({"text": "thanks @AcmeHelp, all sorted, you are great!"}),
    ]
    result = run(["classify"], tmp_path, stdin="\n".join(lines) + "\n")
    # Every good line scored, every bad one named on stderr; the exit code says some were bad.
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "line 2: not valid JSON" in result.stderr
    assert 'line 3: not valid input: JSON nested too deeply (expected {"text": "..."})' in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 4
    angry, bad, nested, happy = out
    assert nested == {
        "error": 'not valid input: JSON nested too deeply (expected {"text": "..."})',
        "line": 3,
    }
    assert {"sentiment", "sentiment_probs", "complaint", "severity", "urgency", "tier", "entities"} <= set(
        angry
    )
    assert angry["sentiment"] == "negative" and angry["complaint"] > 0.5
    assert angry["urgency"] > happy["urgency"] and happy["sentiment"] == "positive"
    assert any(e["label"] == "ORDER" and e["text"] == "123456" for e in angry["entities"])
    assert "error" in bad and bad["line"] == 2


@pytest.fixture(scope="module")
def headless_demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp / 'demo.db'}"
    result = run(["demo", "--headless", "--mentions", "80", "--pace", "40", "--database", url], tmp)
    return tmp, url, result


def test_headless_demo_runs_the_whole_pipeline_and_loses_nothing(headless_demo):
    _, _, result = headless_demo
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"ingested", "classified", "threads", "customers", "alerts", "replies", "lost"} <= set(figures)
    assert figures["ingested"] >= 80 and figures["lost"] == 0
    assert figures["classified"] >= figures["ingested"]
    assert 0 < figures["customers"] and 0 < figures["threads"] <= figures["ingested"]
    assert figures["replies"] == 1
    assert "stored" in result.stderr  # progress went to stderr, leaving stdout one JSON line


def test_the_weekly_report_covers_the_demo_week(headless_demo, tmp_path):
    tmp, url, result = headless_demo
    assert result.returncode == 0, result.stderr
    week = datetime.now(UTC).strftime("%G-W%V")
    out = tmp_path / "report"
    report = run(["report", "--week", week, "--out", str(out)], tmp, env={"EARFUL_DATABASE__URL": url})
    assert report.returncode == 0, report.stderr
    with open(out / "threads.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 10
    assert not any(cell[:1] in "=+-@" for row in rows for cell in row.values() if cell and not _number(cell))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html


def test_a_bad_week_is_a_clear_error_not_a_traceback(tmp_path):
    result = run(
        ["report", "--week", "last week"],
        tmp_path,
        env={"EARFUL_DATABASE__URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert result.returncode == 2
    assert "2026-W47" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--week", "9999-W52"], "'9999-W52' ends after the year 9999: expected an ISO week like 2026-W47"),
        (["--week", "0001-W01"], "0001-W01 is compared with the period as long before it, which would start"),
        (
            ["--since", "9999-12-30", "--until", "9999-12-31"],
            "'9999-12-31' is outside the years 1 to 9999 in UTC",
        ),
        (
            ["--since", "0001-01-01T00:00+05:00"],
            "is outside the years 1 to 9999 in UTC: expected a date like",
        ),
    ],
)
def test_a_period_past_the_calendar_is_a_one_line_error_naming_the_forms(tmp_path, args, said):
    result = run(["report", *args], tmp_path, env={"EARFUL_DATABASE__URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "OverflowError" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert said in error


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_eval_without_the_datasets_says_where_it_looked_and_how_to_fix_it(tmp_path):
    result = run(["eval", "--json"], tmp_path, env={"EARFUL_DATA_DIR": str(tmp_path / "nowhere")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "training data not found" in result.stderr and "EARFUL_DATA_DIR" in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["export", "mentions", "--format", "xml"], "unknown format 'xml'; use jsonl or csv"),
    ],
)
def test_a_mistyped_command_gets_usage_help_not_a_traceback(tmp_path, args, said):
    result = run(args, tmp_path)
    assert result.returncode == 2
    assert said in result.stderr and "--help' for help" in result.stderr
    assert "Traceback" not in result.stderr
