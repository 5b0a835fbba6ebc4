"""What the commands print of stored text from the internet: shown, never run by the terminal. Hostile rows are
stored in a real SQLite file and a real PostgreSQL database, and the real CLI is driven (typer's CliRunner)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from typer.testing import CliRunner

from earful.cli import app
from store.health import HealthRow, record_health
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring
from store.quarantine import put_aside

# Set the terminal's title, write its clipboard (OSC 52), clear it, ring; a lone CR; CSI as one C1 byte; DEL.
ESCAPES = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\r\x9b31m\x7f"
# An override that reorders the rest of the line.
BIDI = "\u202etxt.exe\u202c"
HOSTILE = f"refund {ESCAPES} now {BIDI} =SUM(A1)"
# What no output may carry raw: ESC, BEL, C1 controls, DEL, and a CR that is not part of a CRLF line end.
RAW = re.compile("[\x1b\x07\x7f\x80-\x9f]|\r(?!\n)")
OVERRIDES = re.compile("[\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def hostile_store(any_store, make_mention):
    """A mention, a quarantined event, a source's health and an alert, each holding ESCAPES."""
    item = make_mention("1", text=HOSTILE, author="mal")
    item.mention.author.display_name = f"Mal {ESCAPES}"
    item.scores.explanation = [f"never {ESCAPES}"]
    with any_store.write() as s:
        save_mentions([item], session=s)
        put_aside("x", "x:filtered", f"tweet id {ESCAPES!s} is not a number", b"\x1b]0;raw\x07", session=s)
        record_health(
            [
                HealthRow(
                    source=f"x:stream{ESCAPES}", network="x", state="failing", detail=f"server: {HOSTILE}"
                )
            ],
            reporter="serve",
            session=s,
        )
        firing = AlertFiring(
            rule="urgent",
            kind="tier",
            key="mention:1",
            title=f"Critical mention from @mal {BIDI}",
            reason=f"{HOSTILE}",
            examples=[{"handle": "mal", "text": HOSTILE}],
        )
        s.add(firing)
        s.flush()
        s.add(
            AlertEvent(rule="urgent", subscriber="ops", firing_id=firing.id, status="failed", error=HOSTILE)
        )
    return any_store


def earful(store, tmp_path, *args: str):
    env = {"EARFUL_DATABASE__URL": store.url, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "EARFUL_CONFIG": None}
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("quarantine",),
        ("status",),
        ("alerts", "history"),
        ("export", "mentions", "--format", "jsonl"),
    ],
    ids=lambda args: " ".join(args),
)
def test_stored_hostile_text_reaches_the_terminal_shown_not_run(hostile_store, tmp_path, args):
    out = earful(hostile_store, tmp_path, *args)
    assert out.strip()
    assert not RAW.findall(out), RAW.findall(out)
    assert not OVERRIDES.findall(out)


def test_quarantine_shows_what_an_escape_was(hostile_store, tmp_path):
    out = earful(hostile_store, tmp_path, "quarantine")
    assert "x x:filtered: tweet id ␛]0;pwned␇␛]52;c;ZXZpbA==␇␛[2J \\x9b31m␡ is not a number" in out


def test_the_jsonl_export_escapes_controls_yet_gives_the_text_back(hostile_store, tmp_path):
    out = earful(hostile_store, tmp_path, "export", "mentions", "--format", "jsonl")
    assert "\\u009b" in out and "\\u007f" in out and "\\u202e" in out and "\\u001b" in out
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["text"] == HOSTILE


def test_the_csv_export_to_a_terminal_drops_controls_and_keeps_the_formula_guard(hostile_store, tmp_path):
    out = earful(hostile_store, tmp_path, "export", "mentions", "--format", "csv")
    assert not RAW.findall(out), RAW.findall(out)
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["text"] == f"refund ]0;pwned]52;c;ZXZpbA==[2J\n31m now {BIDI} =SUM(A1)"
    assert row["explanation"] == "never ]0;pwned]52;c;ZXZpbA==[2J\n31m"
