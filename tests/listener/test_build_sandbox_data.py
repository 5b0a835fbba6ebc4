"""scripts/build_sandbox_data.py on a tiny corpus with the real file's quirks."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]

CSV = (
    ",tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    "0,2,AcmeCo,False,Tue Oct 31 22:11:00 +0000 2017,@115712 sorry! DM us,,1.0\n"
    "1,1,115712,True,Tue Oct 31 22:11:00 +0000 2017,@AcmeCo \r\rmy order,2,\n"
    '2,3,115713,True,Tue Oct 31 21:00:00 +0000 2017,"@AcmeCo quoted, with comma\nand newline",,\n'
    "3,4,115713,True,Tue Oct 31 23:00:00 +0000 2017,@AcmeCo orphan reply,,99.0\n"
)


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_sandbox_data", ROOT / "scripts" / "build_sandbox_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_keeps_bare_carriage_returns_and_orders_parents_first(tmp_path: Path) -> None:
    source = tmp_path / "twcs.csv"
    source.write_bytes(CSV.encode())
    out = tmp_path / "data"
    script().main(["--source", str(source), "--out", str(out)])

    with gzip.open(out / "twcs.jsonl.gz", "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    assert [row["tweet_id"] for row in rows] == [3, 1, 2, 4], (
        "time order, but a reply never before its parent"
    )
    by_id = {row["tweet_id"]: row for row in rows}
    assert by_id[1]["text"] == "@AcmeCo \r\rmy order"
    assert by_id[3]["text"] == "@AcmeCo quoted, with comma\nand newline"
    assert by_id[2] == {
        "tweet_id": 2,
        "author_id": "AcmeCo",
        "inbound": False,
        "created_at": "2017-10-31T22:11:00.000Z",
        "text": "@115712 sorry! DM us",
        "in_response_to_tweet_id": 1,
    }
    assert by_id[4]["in_response_to_tweet_id"] is None, "an orphan starts its own conversation"
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "CC BY-NC-SA 4.0" in attribution and "Axelbrooke" in attribution and "synthetic" in attribution


def test_the_bundled_files_are_there() -> None:
    data = ROOT / "listener" / "sandbox" / "data"
    assert (data / "twcs.jsonl.gz").stat().st_size > 100_000
    assert "Customer Support on Twitter" in (data / "ATTRIBUTION.md").read_text()
