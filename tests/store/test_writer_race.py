"""Writers racing on the same mentions, threads, authors and cursors (two JetStream workers, a backfill beside a
stream) on PostgreSQL: nothing lost, nothing doubled, no error, by construction and not by luck of timing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from store import Store
from store.models import Customer, Identity, Mention, SourceCursor, Thread

WRITER = Path(__file__).with_name("race_writer.py")


def test_writers_racing_on_the_same_rows_lose_nothing_and_raise_nothing(own_pg):
    url = own_pg.url
    Store(url).migrate()
    start_at = time.time() + 3  # every writer imported and connected, then all at once
    # Three writers, each with the 360 mentions in its own order, twelve to a transaction.
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), url, str(seed), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for seed in (1, 2, 3)
    ]
    outcomes = []
    for writer in writers:
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        outcomes.append(json.loads(out.splitlines()[-1]))
    store = Store(url)
    with store.read() as s:
        mentions = s.exec(select(func.count()).select_from(Mention)).one()
        distinct = s.exec(select(func.count(func.distinct(Mention.native_id)))).one()
        threads = s.exec(select(Thread)).all()
        identities = s.exec(select(Identity)).all()
        customers = s.exec(select(func.count()).select_from(Customer)).one()
        cursors = {c.source: c.value for c in s.exec(select(SourceCursor))}
    store.dispose()
    assert [o["errors"] for o in outcomes] == [[], [], []]
    assert [o["stored"] + o["duplicates"] for o in outcomes] == [360, 360, 360]
    assert sum(o["stored"] for o in outcomes) == 360
    assert (mentions, distinct) == (360, 360)
    # Each thread counted each of its six mentions once; one identity and one customer per author.
    assert len(threads) == 60 and {t.mention_count for t in threads} == {6}
    assert len(identities) == 40 and len({i.customer_id for i in identities}) == 40 and customers == 40
    # Every cursor at its source's newest id, whichever writer got there last.
    assert cursors == {
        f"x:search:s{k}": str(1000 + max(i for i in range(360) if i % 3 == k)) for k in range(3)
    }
