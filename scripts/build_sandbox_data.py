"""Build the X sandbox's bundled replay data from the TWCS sample.

    .venv/bin/python scripts/build_sandbox_data.py [--source PATH] [--out DIR]

Reads the thread-contiguous first 5,000 rows of the Customer Support on Twitter corpus and writes
`listener/sandbox/data/twcs.jsonl.gz` (one tweet per line, in replay order) and `ATTRIBUTION.md`.
This is the only code that reads /work/shared; the product reads the generated files.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import heapq
import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = Path("/work/shared/data/twcs-sample/twcs.csv")
DEFAULT_OUT = ROOT / "listener" / "sandbox" / "data"

# A private-use character never present in the corpus: it stands in for a bare carriage return while the csv
# module splits rows (it would take an unquoted `\r` for the end of a row), and is turned back afterwards.
_CR_STANDIN = "\ue000"

ATTRIBUTION = """\
# Bundled replay data: attribution

`twcs.jsonl.gz` is derived from **Customer Support on Twitter** by Thought Vector,
published on Kaggle as `thoughtvector/customer-support-on-twitter`.

Citation: Axelbrooke, S. (Thought Vector). Customer Support on Twitter. Kaggle, 2017.

License: **CC BY-NC-SA 4.0** (https://creativecommons.org/licenses/by-nc-sa/4.0/), as stated on Kaggle.
This derived file is shared under the same license; it is for non-commercial use.

## Source

The first {rows:,} rows of the original `twcs.csv` (tweet ids 1 to about 7,630, October 2017), as kept in
`monalisapatra26/data_visualization` @ 40f027927281c1193b45982e5623487ad49da67e : `twcs.csv`. In that slice
conversations are contiguous, so threads replay whole. Customer author ids were anonymised to integers and
e-mail addresses and phone numbers masked by the original authors; brand handles are real.

## What was changed

- The leading pandas index column and the `response_tweet_id` column (derivable from the replies) were
  dropped.
- Rows are reordered into replay order: by `created_at`, and a reply never before the tweet it answers.
- `created_at` is rewritten from `Tue Oct 31 22:10:47 +0000 2017` to ISO 8601 UTC
  (`2017-10-31T22:10:47.000Z`); `inbound` became a boolean, `in_response_to_tweet_id` an integer.
- {unresolved} replies whose parent is not in the slice have `in_response_to_tweet_id` set to null (they
  replay as the start of a conversation).
- Texts are unchanged, including bare carriage returns.

## What the sandbox adds at replay time (synthetic, not in the corpus)

The sandbox gives every replayed tweet a new id and the current time, calls customers `user<author_id>`
(and rewrites `@<author_id>` mentions in texts to match), and invents each customer's display name and
follower count deterministically from the author id. Those names and follower counts are **synthetic**.
"""


def read_rows(source: Path) -> list[dict[str, str]]:
    # Bytes, not read_text(): universal newlines would turn the bare carriage returns into row ends.
    text = source.read_bytes().decode("utf-8")
    if _CR_STANDIN in text:
        raise SystemExit(f"{source}: contains U+E000; pick another stand-in for bare carriage returns")
    protected = re.sub(r"\r(?!\n)", _CR_STANDIN, text)
    reader = csv.reader(io.StringIO(protected, newline=""))
    header = next(reader)
    # pandas wrote its index as an unnamed first column.
    if header and header[0] == "":
        header = header[1:]
        rows = [row[1:] for row in reader]
    else:
        rows = list(reader)
    out = []
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise SystemExit(f"{source}: row {number} has {len(row)} fields, expected {len(header)}")
        out.append({key: value.replace(_CR_STANDIN, "\r") for key, value in zip(header, row, strict=True)})
    return out


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)


def convert(rows: Iterable[dict[str, str]]) -> tuple[list[dict[str, object]], int]:
    tweets: dict[int, dict[str, object]] = {}
    times: dict[int, datetime] = {}
    for row in rows:
        tweet_id = int(row["tweet_id"])
        parent = row["in_response_to_tweet_id"].strip()
        times[tweet_id] = _parse_time(row["created_at"])
        tweets[tweet_id] = {
            "tweet_id": tweet_id,
            "author_id": row["author_id"],
            "inbound": row["inbound"].strip() == "True",
            "created_at": times[tweet_id].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "text": row["text"],
            "in_response_to_tweet_id": int(float(parent)) if parent else None,
        }
    unresolved = 0
    for tweet in tweets.values():
        if tweet["in_response_to_tweet_id"] is not None and tweet["in_response_to_tweet_id"] not in tweets:
            tweet["in_response_to_tweet_id"] = None
            unresolved += 1
    return replay_order(tweets, times), unresolved


def replay_order(tweets: dict[int, dict[str, object]], times: dict[int, datetime]) -> list[dict[str, object]]:
    """Oldest first, but a tweet only once the tweet it answers is out (timestamps tie at whole seconds)."""
    children: dict[int, list[int]] = {}
    ready: list[tuple[datetime, int]] = []
    for tweet_id, tweet in tweets.items():
        parent = tweet["in_response_to_tweet_id"]
        if isinstance(parent, int):
            children.setdefault(parent, []).append(tweet_id)
        else:
            heapq.heappush(ready, (times[tweet_id], tweet_id))
    ordered = []
    while ready:
        _, tweet_id = heapq.heappop(ready)
        ordered.append(tweets[tweet_id])
        for child in children.get(tweet_id, []):
            heapq.heappush(ready, (times[child], child))
    if len(ordered) != len(tweets):
        raise SystemExit(f"reply cycle in the source: {len(tweets) - len(ordered)} tweets never became ready")
    return ordered


def write(tweets: list[dict[str, object]], out: Path, *, unresolved: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "twcs.jsonl.gz"
    # mtime=0 and no file name in the header: the same input always gives the same bytes (clean diffs).
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as packed,
    ):
        for tweet in tweets:
            packed.write(json.dumps(tweet, ensure_ascii=False).encode("utf-8") + b"\n")
    (out / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(rows=len(tweets), unresolved=unresolved))
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    tweets, unresolved = convert(read_rows(args.source))
    target = write(tweets, args.out, unresolved=unresolved)
    inbound = sum(1 for tweet in tweets if tweet["inbound"])
    print(
        f"wrote {target} ({len(tweets)} tweets, {inbound} inbound, {unresolved} orphaned replies made roots)"
    )


if __name__ == "__main__":
    main()
