"""What one event, one post or one database fault does to a running pipeline: never stops storage, never loses a
good mention, and says what is wrong where a person looks (last_error, `earful status`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import event, text
from sqlmodel import select

from earful.app import PipelineThread
from earful.ops import status_report
from earful.pipeline import Pipeline
from earful.settings import PipelineSettings, Settings
from listener.health import HealthEvent, SourceState
from nlp.schema import Classification
from store import Store
from store.incoming import Author, NewMention
from store.mentions import get_cursor
from store.models import Mention, Quarantine


class FixedClassifier:
    """Stands in for the model: storage is under test here (the model has its own tests)."""

    def classify(self, inputs):
        return [
            Classification("negative", {"negative": 1.0}, 0.9, 2, "Disapproval", 55, "high") for _ in inputs
        ]


class Handover:
    """A collector handing over whatever the test gives it, from its own thread as collectors do."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._stopped = threading.Event()

    def run(self) -> None:
        self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def start(store: Store, **pipeline_settings) -> PipelineThread:
    settings = Settings(pipeline=PipelineSettings(write_retry_max_seconds=0.5, **pipeline_settings))
    pipeline = Pipeline(
        settings, store, classifier_factory=FixedClassifier, collectors=lambda p: [Handover(p)]
    )
    runner = PipelineThread(pipeline).start()
    assert pipeline.ready.wait(30)
    return runner


def wait_for(condition: Callable[[], object], limit: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stored(store: Store) -> dict[str, Mention]:
    with store.read() as s:
        return {m.native_id: m for m in s.exec(select(Mention))}


def test_a_mention_that_breaks_the_store_is_put_aside_and_storage_goes_on(any_store, make_mention):
    source = "x:search:acme"
    first = make_mention("1", source=source).mention
    # As if they came around the model's checks (an older publisher on the bus, a bug in a collector): an author
    # with 10^20 followers (SQLite cannot bind it, PostgreSQL's integer refuses it), and an id and cursor "¹²³",
    # which pass str.isdigit() and then fail int().
    overflow = NewMention.model_construct(
        **(first.model_dump(exclude={"author"}) | {"native_id": "2", "cursor": "2"}),
        author=Author.model_construct(native_user_id="u9", handle="u9", display_name="", followers=10**20),
    )
    superscript = NewMention.model_construct(
        **(first.model_dump(exclude={"author"}) | {"native_id": "¹²³", "cursor": "¹²³"}),
        author=first.author,
    )
    later = [make_mention(str(i), source=source).mention for i in range(3, 7)]
    runner = start(any_store)
    try:
        for mention in [first, overflow, superscript, *later]:
            runner.pipeline.publish(mention)
        stats = runner.pipeline.stats
        wait_for(lambda: stats.stored + stats.rejected == 7, what="every mention to be stored or kept aside")
        # The consumer is alive: what comes next is stored too.
        runner.pipeline.publish(make_mention("7", source=source).mention)
        wait_for(lambda: stats.stored == 7, what="the next mention")
        assert stats.last_error is not None and "kept aside" in stats.last_error
    finally:
        runner.stop()
    assert runner.error is None
    assert sorted(stored(any_store)) == ["1", "3", "4", "5", "6", "7", "¹²³"]
    with any_store.read() as s:
        [aside] = s.exec(select(Quarantine)).all()
        # Compared as text with "7" ("¹²³" is not a number to int()): whichever wins, it did not raise.
        assert get_cursor(source, session=s) in ("7", "¹²³")
    assert aside.reason.startswith("the database refused it: ") and b'"native_id":"2"' in aside.raw


def test_an_850_kb_post_is_stored_cut_and_searchable_and_the_rest_go_on(any_store, make_mention):
    # Its words would make a tsvector over PostgreSQL's 1 MB: refused as ProgramLimitExceeded, an
    # OperationalError, and the batch retried for ever as if the server were down.
    post = "@acme " + " ".join(f"refund{i}" for i in range(85_000))
    assert len(post) > 850_000
    mentions = [
        make_mention("1").mention,
        make_mention("2", text=post).mention,
        make_mention("3", text="@acme where is my parcel").mention,
    ]
    runner = start(any_store)
    try:
        for mention in mentions:
            runner.pipeline.publish(mention)
        wait_for(lambda: runner.pipeline.stats.stored == 3, what="all three mentions")
    finally:
        runner.stop()
    big = stored(any_store)["2"]
    assert big.text.startswith("@acme refund0 refund1") and len(big.text) == 40_000
    assert big.text.endswith(f"[earful kept the first part of this post: it has {len(post):,} characters]")
    if any_store.is_sqlite:
        sql = "SELECT rowid FROM mention_fts WHERE mention_fts MATCH 'refund42'"
    else:
        sql = "SELECT id FROM mention WHERE to_tsvector('simple', text) @@ plainto_tsquery('simple', 'refund42')"
    with any_store.engine.connect() as conn:
        assert list(conn.execute(text(sql)).scalars()) == [big.id]


def test_a_full_disk_is_waited_out_and_status_says_what_for(sqlite_store, make_mention):
    # A real SQLite database that may not grow: SQLITE_FULL, what a full disk gives, until room is made.
    limit: dict[str, int | None] = {"pages": None}

    @event.listens_for(sqlite_store.engine, "checkout")
    def _limit(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages'] or 1073741823}")

    runner = start(sqlite_store, health_seconds=0.2)
    pipeline = runner.pipeline
    try:
        pipeline.note_health(HealthEvent("x", "x:stream", SourceState.LIVE))
        wait_for(lambda: status_report(sqlite_store)["sources"], what="the source's health")
        with sqlite_store.engine.connect() as conn:
            limit["pages"] = conn.execute(text("PRAGMA page_count")).scalar_one()
        mentions = [make_mention(str(i), text="@acme " + "lost parcel " * 500).mention for i in range(20)]
        for mention in mentions:
            pipeline.publish(mention)
        wait_for(lambda: pipeline.stats.last_error, what="the write to fail")
        assert "out of space" in pipeline.stats.last_error and "free space" in pipeline.stats.last_error
        assert "check that the server is running" not in pipeline.stats.last_error

        def waiting() -> list[str]:
            summaries = [s["summary"] for s in status_report(sqlite_store)["sources"]]
            # The writer's own line, or (if even that cannot be written) the note the process left outside.
            return [line for line in summaries if "waiting" in line and "space" in line]

        wait_for(waiting, what="`earful status` to say what the pipeline waits for")
        assert pipeline.stats.stored == 0

        limit["pages"] = None  # room again
        wait_for(lambda: pipeline.stats.stored == 20, what="every mention once there is room")
        wait_for(lambda: not waiting(), what="status to stop saying so")
    finally:
        runner.stop()
    assert sorted(stored(sqlite_store), key=int) == [str(i) for i in range(20)]
    assert pipeline.stats.last_error is None


def test_a_password_in_the_url_query_never_shows(make_mention):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?password=hunter2&connect_timeout=2"
    store = Store(url)
    runner = start(store)
    try:
        runner.pipeline.publish(make_mention("1").mention)
        wait_for(lambda: runner.pipeline.stats.last_error, what="the pipeline to notice")
        error = runner.pipeline.stats.last_error
    finally:
        runner.stop()
        store.dispose()
    assert "hunter2" not in error and "password=***" in error and "cannot open the database" in error
