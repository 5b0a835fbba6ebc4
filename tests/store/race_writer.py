"""One of several writers storing the same mentions at once (run as its own process by test_writer_race.py).

Prints one JSON line: how many it stored, how many it found stored, and every exception it met."""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions

MENTIONS, PER_THREAD, AUTHORS, SOURCES, BATCH = 360, 6, 40, 3, 12
START = datetime(2026, 11, 16, 9, tzinfo=UTC)


def mentions() -> list[ScoredMention]:
    return [
        ScoredMention(
            mention=NewMention(
                network="x",
                native_id=str(1000 + i),
                conversation_id=f"c{i % (MENTIONS // PER_THREAD)}",
                text=f"@acme order {i} never arrived",
                created_at=START + timedelta(seconds=i),
                author=Author(native_user_id=f"u{i % AUTHORS}", handle=f"user{i % AUTHORS}", followers=i),
                brand="acme",
                source=f"x:search:s{i % SOURCES}",
                cursor=str(1000 + i),
            ),
            scores=Scores(urgency=40, urgency_tier="normal"),
        )
        for i in range(MENTIONS)
    ]


def main(url: str, seed: int, start_at: float) -> None:
    store = Store(url)
    items = mentions()
    random.Random(seed).shuffle(items)
    stored = duplicates = 0
    errors: list[str] = []
    time.sleep(max(0.0, start_at - time.time()))
    for at in range(0, len(items), BATCH):
        try:
            with store.write() as session:
                result = save_mentions(items[at : at + BATCH], session=session)
            stored += len(result.stored)
            duplicates += result.duplicates
            errors += [reason for _, reason in result.rejected]
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    store.dispose()
    print(json.dumps({"stored": stored, "duplicates": duplicates, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
