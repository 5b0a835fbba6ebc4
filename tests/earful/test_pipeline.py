"""The pipeline keeps going through bad moments and loses nothing that was good."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from sqlmodel import select

from earful.app import PipelineThread
from earful.pipeline import Pipeline
from earful.settings import PipelineSettings, Settings
from store import Store
from store.mentions import get_cursor
from store.models import Customer, Identity, Mention, Quarantine
from store.queries import inbox


class ListCollector:
    """A source handing over a fixed list once `go` is set (network behaviour is tested in tests/listener)."""

    def __init__(self, pipeline: Pipeline, mentions: list, go: threading.Event) -> None:
        self.pipeline, self.mentions, self.go = pipeline, mentions, go
        self._stopped = threading.Event()

    def run(self) -> None:
        self.go.wait()
        for mention in self.mentions:
            self.pipeline.publish(mention)
        self._stopped.wait()

    def stop(self) -> None:
        self.go.set()
        self._stopped.set()


def start(store: Store, classifier, mentions: list, go: threading.Event) -> PipelineThread:
    settings = Settings(pipeline=PipelineSettings(write_retry_max_seconds=0.5))
    pipeline = Pipeline(
        settings,
        store,
        classifier_factory=lambda: classifier,
        collectors=lambda p: [ListCollector(p, mentions, go)],
    )
    runner = PipelineThread(pipeline).start()
    assert pipeline.ready.wait(30)
    return runner


def wait_for(condition: Callable[[], object], limit: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stored_ids(store: Store) -> list[str]:
    with store.read() as s:
        return sorted(s.exec(select(Mention.native_id)))


def test_a_dead_database_delays_mentions_but_loses_none(make_mention, classifier, own_pg):
    store = Store(own_pg.url)
    store.migrate()
    mentions = [make_mention(str(i), conversation=f"c{i % 5}", author=f"u{i % 7}").mention for i in range(40)]
    go = threading.Event()
    runner = start(store, classifier, mentions, go)
    try:
        own_pg.down()  # the database goes away under the running pipeline
        go.set()
        wait_for(lambda: runner.pipeline.stats.last_error, what="the pipeline to notice the database is gone")
        assert "cannot open the database" in runner.pipeline.stats.last_error
        assert runner.pipeline.stats.stored == 0

        own_pg.up()
        wait_for(lambda: runner.pipeline.stats.stored == 40, what="every mention to be stored")
    finally:
        runner.stop()
        store.dispose()
    assert stored_ids(Store(store.url)) == sorted(str(i) for i in range(40))
    assert runner.pipeline.stats.last_error is None


def test_stopping_stores_everything_already_handed_over(sqlite_store, make_mention, classifier):
    mentions = [make_mention(str(i), conversation=f"c{i % 9}", author=f"u{i}").mention for i in range(150)]
    go = threading.Event()
    runner = start(sqlite_store, classifier, mentions, go)
    go.set()
    wait_for(lambda: runner.pipeline.stats.received == 150, what="the collector to hand over")
    runner.stop()
    assert runner.error is None
    assert stored_ids(sqlite_store) == sorted(str(i) for i in range(150))


def test_what_the_database_refuses_is_kept_aside_and_the_rest_stored(any_store, make_mention, classifier):
    # A classifier that answers an urgency no integer column holds for one text: both back ends refuse that row.
    mentions = [
        make_mention("1").mention,
        make_mention("9", text="overflow").mention,
        make_mention("2").mention,
    ]
    go = threading.Event()
    runner = start(any_store, WildClassifier(classifier), mentions, go)
    go.set()
    wait_for(lambda: runner.pipeline.stats.stored + runner.pipeline.stats.rejected == 3, what="the batch")
    runner.stop()
    assert stored_ids(any_store) == ["1", "2"]
    with any_store.read() as s:
        [aside] = s.exec(select(Quarantine)).all()
    assert aside.reason.startswith("the database refused it: ") and b'"native_id":"9"' in aside.raw


class WildClassifier:
    """The shipped classifier, but "overflow" scores an urgency past every integer column."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def classify(self, inputs):
        results = list(self.inner.classify(inputs))
        for i, item in enumerate(inputs):
            if item.text == "overflow":
                results[i] = dataclasses.replace(results[i], urgency=10**20)
        return results


class CountingClassifier:
    """The shipped classifier, counting the texts it is asked to score."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, []

    def classify(self, inputs):
        self.texts.extend(i.text for i in inputs)
        return self.inner.classify(inputs)


def test_a_mention_stored_already_is_not_classified_again_but_still_moves_its_cursor(
    sqlite_store, make_mention, classifier
):
    first = make_mention("1", text="@acme the first time").mention
    # The same post again, as a backfill overlapping the stream hands it over: now carrying the cursor.
    again = make_mention("1", text="@acme the first time", source="x:search:acme").mention
    counting = CountingClassifier(classifier)
    go = threading.Event()
    runner = start(sqlite_store, counting, [first], go)
    go.set()
    wait_for(lambda: runner.pipeline.stats.stored == 1, what="the first delivery")
    runner.pipeline.publish(again)
    wait_for(lambda: runner.pipeline.stats.duplicates == 1, what="the second delivery")
    runner.stop()
    assert counting.texts == ["@acme the first time"]
    with sqlite_store.read() as s:
        assert get_cursor("x:search:acme", session=s) == "1"


class RecordingClassifier:
    """The shipped classifier, keeping what it was asked: text, prior contacts and customer tier."""

    def __init__(self, inner) -> None:
        self.inner, self.inputs = inner, []

    def classify(self, inputs):
        self.inputs.extend((i.text, i.prior_contacts, i.customer_tier) for i in inputs)
        return self.inner.classify(inputs)


def stored(store: Store) -> dict[str, Mention]:
    with store.read() as s:
        return {m.native_id: m for m in s.exec(select(Mention))}


LATE = "@acme my order never arrived and nobody answers"


def test_a_customer_asking_again_in_a_thread_is_more_urgent_than_the_first_time(
    sqlite_store, make_mention, classifier
):
    from nlp import ClassifyInput

    risky = "@acme my order never arrived, my lawyer will hear about this"
    recording = RecordingClassifier(classifier)
    go = threading.Event()
    runner = start(sqlite_store, recording, [make_mention("1", text=LATE, author="jane").mention], go)
    go.set()
    wait_for(lambda: runner.pipeline.stats.stored == 1, what="the first message")
    # She asks again, twice, word for word (and someone else writes in another thread meanwhile).
    for mention in [
        make_mention("2", text=LATE, author="jane", minutes=5).mention,
        make_mention("3", text=LATE, author="jane", minutes=6).mention,
        make_mention("4", text=risky, author="omar", conversation="c2", minutes=6).mention,
    ]:
        runner.pipeline.publish(mention)
    wait_for(lambda: runner.pipeline.stats.stored == 4, what="the later messages")
    runner.stop()

    assert recording.inputs == [(LATE, 0, None), (LATE, 1, "standard"), (LATE, 2, "standard"),
                                (risky, 0, None)]  # fmt: skip
    mentions = stored(sqlite_store)
    assert mentions["1"].urgency < mentions["2"].urgency < mentions["3"].urgency
    # What the desk shows as "why" is the classifier's own explanation and risks, stored with the mention.
    [expected] = classifier.classify([ClassifyInput(text=risky)])
    assert (mentions["4"].explanation, mentions["4"].risks) == (expected.explanation, ["legal"])


def test_a_vip_customer_outranks_a_standard_one_saying_the_same(sqlite_store, make_mention, classifier):
    recording = RecordingClassifier(classifier)
    go = threading.Event()
    earlier = [
        make_mention("1", text="@acme hi", author="vic", conversation="old-vic").mention,
        make_mention("2", text="@acme hi", author="sam", conversation="old-sam").mention,
    ]
    runner = start(sqlite_store, recording, earlier, go)
    go.set()
    wait_for(lambda: runner.pipeline.stats.stored == 2, what="the earlier threads")
    with sqlite_store.write() as s:
        vic = s.exec(select(Identity).where(Identity.native_user_id == "vic")).one()
        s.get(Customer, vic.customer_id).tier = "vip"
    for mention in [
        make_mention("3", text=LATE, author="sam", conversation="new-sam", minutes=5).mention,
        make_mention("4", text=LATE, author="vic", conversation="new-vic", minutes=5).mention,
    ]:
        runner.pipeline.publish(mention)
    wait_for(lambda: runner.pipeline.stats.stored == 4, what="the new threads")
    runner.stop()

    # Their earlier threads are not this one: no repeat contact, only the tier differs.
    assert recording.inputs[2:] == [(LATE, 0, "standard"), (LATE, 0, "vip")]
    mentions = stored(sqlite_store)
    assert mentions["4"].urgency > mentions["3"].urgency
    with sqlite_store.read() as s:
        first = inbox(session=s)[0]
    assert first.handle == "vic" and first.text == LATE
