"""A running pipeline follows edits of its alert rules: a new rule fires on the next mention without a restart,
and a broken edit is refused while the rules in force keep working. A real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from earful.alerting import ConfigWatcher
from earful.app import PipelineThread
from earful.pipeline import Pipeline
from earful.settings import load_settings
from store import Store


class Feed:
    """A collector that publishes what the test hands it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._stopped = threading.Event()

    def run(self) -> None:
        self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def wait_for(condition: Callable[[], object], limit: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


CONFIG = """
[alerts]
evaluate_seconds = 0.2

[[alerts.rules]]
name = "critical"
kind = "tier"
min_tier = "critical"
brands = ["globex"]
{extra}

[[alerts.subscribers]]
name = "oncall"
url = "{url}"
"""
REFUNDS = '\n[[alerts.rules]]\nname = "refunds"\nkind = "terms"\nquery = "refund"\n'


def write_config(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # Some filesystems keep whole-second times: make the change visible whatever the clock's grain.
    stamp = time.time() + len(text)
    os.utime(path, (stamp, stamp))


def test_edited_rules_apply_without_a_restart_and_a_broken_edit_is_refused(
    tmp_path, receiver, make_mention, classifier, caplog
):
    config = tmp_path / "earful.toml"
    write_config(config, CONFIG.format(extra="", url=receiver.url))
    settings = load_settings(config, database={"url": f"sqlite:///{tmp_path}/e.db"})
    store = Store(settings.database.url)
    store.migrate()
    pipeline = Pipeline(
        settings,
        store,
        classifier_factory=lambda: classifier,
        collectors=lambda p: [Feed(p)],
        watcher=ConfigWatcher(lambda: load_settings(config, database=settings.database), [config]),
    )
    runner = PipelineThread(pipeline).start()
    try:
        assert pipeline.ready.wait(60)
        refund = "I have asked for a refund three times and nobody answers"
        pipeline.publish(make_mention("1", text=refund, conversation="c1", author="a").mention)
        wait_for(lambda: pipeline.stats.stored >= 1, what="the first mention")
        time.sleep(0.5)
        assert receiver.titles == [], "no rule in force fires on acme's mentions yet"

        write_config(config, CONFIG.format(extra=REFUNDS, url=receiver.url))
        wait_for(lambda: pipeline.clock.stats.reloads >= 1, what="the reload")
        pipeline.publish(make_mention("2", text=refund, conversation="c2", author="b", minutes=1).mention)
        wait_for(lambda: any("matching refund" in t for t in receiver.titles), what="the refunds alert")

        with caplog.at_level(logging.ERROR, logger="earful.alerting"):
            write_config(
                config, CONFIG.format(extra=REFUNDS.replace('"refund"', '"(refund"'), url=receiver.url)
            )
            wait_for(lambda: "not valid" in caplog.text, what="the refusal")
        pipeline.publish(make_mention("3", text=refund, conversation="c3", author="c", minutes=2).mention)
        wait_for(lambda: sum("matching refund" in t for t in receiver.titles) == 2, what="the rules in force")
        assert [r.name for r in pipeline.alert_settings.effective_rules()] == ["critical", "refunds"]
        assert len(receiver.titles) == 2
    finally:
        runner.stop()
        store.dispose()


async def test_a_turn_that_fails_does_not_end_alerting(tmp_path):
    """A bug in one turn (here: delivery raising) is logged and said, and the next turn delivers again: the
    clock used to die on anything but a database outage, and no alert went out until a restart."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from earful.alerting import AlertClock

    settings = load_settings(None, database={"url": f"sqlite:///{tmp_path}/e.db"})
    store = Store(settings.database.url)
    store.migrate()
    turns: list[str] = []
    errors: list[str] = []

    def deliver() -> None:
        turns.append("turn")
        if len(turns) == 1:
            raise RuntimeError("a subscriber plugin broke")

    db, model = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    clock = AlertClock(
        settings, store, db=db, model=model, deliver=deliver, every=0.05, on_error=errors.append
    )
    stop = asyncio.Event()
    running = asyncio.create_task(clock.run(stop))
    try:
        for _ in range(200):
            if len(turns) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        db.shutdown()
        model.shutdown()
        store.dispose()
    assert len(turns) >= 3, "delivery ran again after the turn that failed"
    assert errors and "a subscriber plugin broke" in errors[0]
