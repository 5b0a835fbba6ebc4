"""`earful customers import|export` as a user runs them: real processes, real files, a real SQLite database."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

from sqlmodel import select

from store import Store
from store.models import Customer


def run(args: list[str], tmp_path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "EARFUL_DATABASE__URL": f"sqlite:///{tmp_path}/earful.db",
    }
    environment.pop("EARFUL_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "earful", "customers", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )


def names(tmp_path) -> list[str]:
    store = Store(f"sqlite:///{tmp_path}/earful.db")
    with store.read() as s:
        found = sorted(c.display_name for c in s.exec(select(Customer)))
    store.dispose()
    return found


def test_import_reports_counts_and_each_rejected_line_then_export_gives_them_back(tmp_path):
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "\ufeffexternal_id,name,email,tags,x\n"
        "1,Jane Smith,jane@example.com,vip;refund,@jane\n"
        "2,,bad\x1b[31m-address,,\n"
        "3,Bob,,,bob\n",
        encoding="utf-8",
    )
    result = run(["import", str(crm)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created 2, updated 0, linked 0, rejected 1"
    # The reason quotes the cell without its escape sequence: a CSV cannot recolour the terminal.
    assert result.stderr.strip() == (
        "line 3: e-mail 'bad[31m-address' is malformed: expected an address like name@example.com"
    )
    assert names(tmp_path) == ["Bob", "Jane Smith"]

    out = tmp_path / "out.csv"
    exported = run(["export", "-o", str(out)], tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert f"2 customers written to {out}" in exported.stderr
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["external_id"], r["name"], r["email"], r["tags"], r["x"]) for r in rows] == [
        ("1", "Jane Smith", "jane@example.com", "vip;refund", "jane"),
        ("3", "Bob", "", "", "bob"),
    ]
    to_stdout = run(["export"], tmp_path)
    assert list(csv.DictReader(io.StringIO(to_stdout.stdout))) == rows

    again = run(["import", str(out)], tmp_path)
    assert (again.returncode, again.stdout.strip()) == (0, "created 0, updated 0, linked 0, rejected 0")


def test_a_file_that_cannot_be_read_exits_1_with_the_cause_and_the_fix(tmp_path):
    missing = run(["import", str(tmp_path / "nope.csv")], tmp_path)
    assert missing.returncode == 1
    assert "nope.csv: no such file. Fix: check the path" in missing.stderr
    assert "Traceback" not in missing.stderr

    header = tmp_path / "header.csv"
    header.write_text("name,phone\nA,1\n", encoding="utf-8")
    wrong = run(["import", str(header)], tmp_path)
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "unknown column 'phone'" in wrong.stderr
    assert "external_id,name,email,tier,tags,notes,x,mastodon,bluesky,reddit" in wrong.stderr

    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nJosé\n".encode("cp1252"))
    encoded = run(["import", str(latin)], tmp_path)
    assert encoded.returncode == 1 and "not UTF-8" in encoded.stderr and "CSV UTF-8" in encoded.stderr
    assert names(tmp_path) == []


def test_a_file_with_only_bad_rows_imports_nothing_and_fails(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email,tier\n,,vip\n,x@,\n", encoding="utf-8")
    result = run(["import", str(bad)], tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip() == "created 0, updated 0, linked 0, rejected 2"
    assert (
        "line 2: missing name and e-mail" in result.stderr
        and "line 3: e-mail 'x@' is malformed" in result.stderr
    )


def test_a_big_import_shows_its_progress(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("external_id,name\n" + "".join(f"{i},Person {i}\n" for i in range(2500)), encoding="utf-8")
    result = run(["import", str(big)], tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created 2500, updated 0, linked 0, rejected 0"
    assert "importing big.csv: 2,500/2,500 (100%)" in result.stderr


def test_a_huge_cell_and_an_unclosed_quote_are_reported_by_line_and_the_good_rows_kept(tmp_path):
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "name,email,notes\n"
        "Ann,ann@example.com,\n"
        f"Huge,huge@example.com,{'x' * 200_000}\n"
        "Bob,bob@example.com,\n"
        '"Carl,carl@example.com,\n'
        "Dora,dora@example.com,\n",
        encoding="utf-8",
    )
    result = run(["import", str(crm)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created 3, updated 0, linked 0, rejected 2"
    assert result.stderr.splitlines() == [
        "line 3: a cell is over 131,072 characters; no column holds that much (notes take up to 10,000)",
        "line 5: a quote opened on this line is never closed",
    ]
    assert names(tmp_path) == ["Ann", "Bob", "Dora"]
