"""Build bench/data/spotifycares_inbound.csv.gz, the recorded series the detection tests and bench replay.

    .venv/bin/python scripts/build_detection_data.py [--source PATH]

Reads the customer (inbound) rows of support_requests.csv in the TWCS sample and keeps tweet_id, author_id,
created_at and text. Like build_sandbox_data.py, this is the only code that reads the shared data for it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "twcs-sample" / "support_requests.csv"
OUT = ROOT / "bench" / "data" / "spotifycares_inbound.csv.gz"


def build(source: Path = SOURCE, out: Path = OUT) -> int:
    # A few texts hold bare carriage returns, which the csv module takes for row ends (see the sample's SOURCE.md).
    text = re.sub(r"\r(?!\n)", " ", source.read_text(encoding="utf-8"))
    rows = [row for row in csv.DictReader(io.StringIO(text)) if row["inbound"] == "True"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["tweet_id", "author_id", "created_at", "text"])
    writer.writerows([r["tweet_id"], r["author_id"], r["created_at"], r["text"]] for r in rows)
    out.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    print(f"{build(args.source)} tweets written to {OUT}")


if __name__ == "__main__":
    main()
