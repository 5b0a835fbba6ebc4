"""`make bench`: classification throughput, and ingest-to-stored latency through the headless demo.

Figures are printed, never asserted: speed targets live here, not in the tests.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from importlib.resources import files

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sample_texts(n: int) -> list[str]:
    data = files("listener.sandbox") / "data" / "twcs.jsonl.gz"
    texts = []
    with gzip.open(str(data), "rt", encoding="utf-8") as rows:
        for line in rows:
            texts.append(json.loads(line)["text"])
            if len(texts) >= n:
                break
    return texts


def classification() -> dict[str, float]:
    from nlp import Classifier, ClassifyInput

    started = time.perf_counter()
    classifier = Classifier.load()
    load_s = time.perf_counter() - started
    texts = sample_texts(1024)
    items = [ClassifyInput(text=t, followers=100) for t in texts]
    classifier.classify(items[:32])  # warm-up: first-call allocations are not throughput

    started = time.perf_counter()
    for item in items[:200]:
        classifier.classify([item])
    single = 200 / (time.perf_counter() - started)

    started = time.perf_counter()
    for i in range(0, len(items), 32):
        classifier.classify(items[i : i + 32])
    batched = len(items) / (time.perf_counter() - started)
    return {
        "model_load_s": round(load_s, 2),
        "single_per_s": round(single, 1),
        "batch32_per_s": round(batched, 1),
    }


def ingest_latency(mentions: int, pace: float) -> dict[str, float]:
    from earful.demo import run_demo

    result = run_demo(headless=True, mentions=mentions, pace=pace, database="sqlite:///" + _tmp_db())
    assert result is not None
    return {
        "pace_per_s": pace,
        "mentions": result["ingested"],
        "lost": result["lost"],
        "p50_ms": result["latency_p50_ms"],
        "p99_ms": result["latency_p99_ms"],
    }


def _tmp_db() -> str:
    import tempfile

    return os.path.join(tempfile.mkdtemp(prefix="earful-bench-"), "bench.db")


def main() -> None:
    print(f"earful bench ({os.cpu_count()} CPU cores)")
    c = classification()
    print(
        f"classification: single {c['single_per_s']}/s, batch of 32 {c['batch32_per_s']}/s "
        f"(model load {c['model_load_s']}s)"
    )
    ingest = ingest_latency(mentions=400, pace=20.0)
    print(
        f"ingest->stored latency, sandbox posting {ingest['pace_per_s']:.0f} tweets/s (all brands), headless demo: "
        f"p50 {ingest['p50_ms']} ms, p99 {ingest['p99_ms']} ms over {ingest['mentions']} mentions, "
        f"lost {ingest['lost']}"
    )
    from bench.ingest import ingest_rates

    rates = ingest_rates()
    for mode, figures in rates.items():
        print(
            f"sustained ingest, sandbox -> store, {mode}: {figures['per_s']} mentions/s over {figures['mentions']}"
        )
    print(json.dumps({"classification": c, "ingest": ingest, "ingest_rate": rates}))


if __name__ == "__main__":
    main()
