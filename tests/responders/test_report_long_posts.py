"""The weekly report does not depend on any one post: a 200,000-character post holding a control character,
in a batch of ordinary ones, on SQLite and PostgreSQL. (The csv module refuses a cell over 131,072 characters,
and the report used it to clean the rare batch holding a control character.)"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col
from test_report import MON, WEEK, inbound, reply

from responders.report import build_week_report
from store.mentions import save_mentions
from store.models import Mention

LONG = "=cmd|' /C calc'!A0 \x1b[2J" + "my parcel never came. " * 9100 + "\x07end"


@contextmanager
def long_cells() -> Iterator[None]:
    # Reading the files back needs a higher limit than the csv module's default; the report itself does not.
    before = csv.field_size_limit(10**7)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def rows(path: Path) -> list[dict[str, str]]:
    with long_cells(), path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_a_200000_character_post_with_a_control_character_does_not_stop_the_report(any_store, tmp_path):
    assert len(LONG) > 200_000
    h = timedelta(hours=1)
    items = [
        inbound("a", 1, MON + h, "where is my order", who="ann"),
        inbound("long", 1, MON + 2 * h, "a long story", who="lou", urgency=80, tier="high"),
        reply("long", 2, MON + 3 * h),
        inbound("b", 1, MON + 4 * h, "thanks, sorted", who="bob", sentiment="positive"),
    ]
    with any_store.write() as s:
        save_mentions(items, session=s)
        # Written as it came: newer versions cut a post at store.incoming.MAX_TEXT, a database from before holds
        # it whole, and the report of any week must still build.
        s.execute(update(Mention).where(col(Mention.native_id) == "long-1").values(text=LONG))

    paths = build_week_report(any_store, WEEK, tmp_path / "out", pdf=False)

    cleaned = "'=cmd|' /C calc'!A0 [2J" + "my parcel never came. " * 9100 + "end"
    mentions = {r["native_id"]: r for r in rows(paths.mentions_csv)}
    assert list(mentions) == ["a-1", "long-1", "long-2", "b-1"]
    assert mentions["long-1"]["text"] == cleaned and mentions["b-1"]["text"] == "thanks, sorted"
    threads = {r["first_message"][:12]: r for r in rows(paths.csv)}
    assert threads["'=cmd|' /C c"]["first_message"] == cleaned
    assert set(threads) == {"'=cmd|' /C c", "where is my ", "thanks, sort"}
    assert "my parcel never came." in paths.html.read_text(encoding="utf-8")
