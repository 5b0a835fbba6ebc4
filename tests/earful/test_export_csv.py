"""`earful export mentions --format csv` is the report's mentions.csv for every mention: one column set, one
writer (BOM, formula guard), and like every file holding customer data, readable by its owner only."""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from responders.report import build_week_report
from responders.report_csv import MENTION_COLUMNS
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions

MON = datetime(2026, 11, 16, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def seeded(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    angry = ScoredMention(
        mention=NewMention(
            network="x",
            native_id="1",
            conversation_id="c1",
            text='=HYPERLINK("http://evil") my order never arrived, lawyer',
            created_at=MON + timedelta(hours=9),
            author=Author(native_user_id="u1", handle="@mallory", display_name="Mallory"),
            brand="acme",
            language="en",
        ),
        scores=Scores(
            sentiment="negative",
            complaint=0.97,
            severity_label="high",
            urgency=91,
            urgency_tier="critical",
            explanation=["=cmd|' /C calc'!A0", "never arrived", "lawyer"],
            risks=["legal"],
        ),
    )
    calm = ScoredMention(
        mention=NewMention(
            network="mastodon",
            native_id="2",
            conversation_id="c2",
            text="thanks, all sorted 😊",
            created_at=MON + timedelta(hours=10),
            author=Author(native_user_id="u2", handle="jane@example.social", display_name="Jane"),
            brand="acme",
        ),
        scores=Scores(sentiment="positive", complaint=0.02, urgency=5, urgency_tier="low"),
    )
    with store.write() as session:
        save_mentions([angry, calm], session=session)
    return store


def earful(args: list[str], tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "EARFUL_DATABASE__URL": url}
    return subprocess.run(
        [sys.executable, "-m", "earful", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_csv_export_is_the_reports_mentions_csv_with_its_bom_and_guard(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    report = build_week_report(store, "2026-W47", tmp_path / "report", pdf=False)
    out = tmp_path / "exports" / "mentions.csv"
    done = earful(["export", "mentions", "--format", "csv", "-o", str(out)], tmp_path, store.url)
    assert done.returncode == 0, done.stderr
    exported = out.read_bytes()
    assert exported.startswith(b"\xef\xbb\xbf")
    # Every mention is in the week: the two files are the same, byte for byte.
    assert exported == report.mentions_csv.read_bytes()
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == MENTION_COLUMNS
    angry = rows[0]
    assert (
        angry["text"].startswith("'=HYPERLINK")
        and angry["explanation"] == "'=cmd|' /C calc'!A0; never arrived; lawyer"
    )
    assert (angry["risks"], angry["severity"], angry["language"], angry["conversation_id"]) == (
        "legal",
        "high",
        "en",
        "c1",
    )
    assert rows[1]["text"] == "thanks, all sorted 😊" and rows[1]["explanation"] == ""
    # To stdout the same bytes (as `> file.csv` would write them).
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")} | {
        "EARFUL_DATABASE__URL": store.url
    }
    piped = subprocess.run(
        [sys.executable, "-m", "earful", "export", "mentions", "--format", "csv"],
        capture_output=True,
        env=env | {"XDG_CONFIG_HOME": str(tmp_path / "cfg")},
        timeout=120,
        check=True,
    )
    assert piped.stdout == exported
    store.dispose()


def test_exports_and_reports_are_owner_only_whatever_was_there_before(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    os.umask(old := os.umask(0o022))
    try:
        loose = tmp_path / "mentions.jsonl"
        loose.write_text("an older export\n")
        loose.chmod(0o644)
        customers = tmp_path / "new" / "dir" / "customers.csv"
        for args in (["export", "mentions", "-o", str(loose)], ["customers", "export", "-o", str(customers)]):
            done = earful(args, tmp_path, store.url)
            assert done.returncode == 0, done.stderr
        assert mode(loose) == 0o600 and "an older export" not in loose.read_text()
        assert (
            mode(customers) == 0o600
            and mode(customers.parent) == 0o700
            and mode(customers.parent.parent) == 0o700
        )
        done = earful(
            ["report", "--week", "2026-W47", "--no-pdf", "--out", str(tmp_path / "r" / "w47")],
            tmp_path,
            store.url,
        )
        assert done.returncode == 0, done.stderr
        assert mode(tmp_path / "r" / "w47") == 0o700 and mode(tmp_path / "r") == 0o700
        assert {mode(p) for p in (tmp_path / "r" / "w47").iterdir()} == {0o600}
    finally:
        os.umask(old)
    store.dispose()


def test_a_log_holding_customer_text_is_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    loose = state / "earful" / "log" / "tui.log"
    loose.parent.mkdir(parents=True)
    loose.write_text("written by an older earful\n")
    loose.chmod(0o644)
    code = "from earful.logs import log_to_file; print(log_to_file('tui')); print(log_to_file('demo'))"
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    paths = [Path(line) for line in done.stdout.split()]
    assert paths[0] == loose and [mode(p) for p in paths] == [0o600, 0o600]
