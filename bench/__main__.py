"""`make bench`: classification throughput, ingest-to-stored latency through the headless demo, and the desk's
speed (opening the inbox over 100,000 threads; key press to screen while mentions stream in), and the report's
build time over a week of 1,000,000 mentions (`python -m bench report`, bench/report.py).

Figures are printed, never asserted: speed targets live here, not in the tests. `python -m bench classify` runs only
the side-by-side of earful's classifier and a plain `transformers` pipeline (bench/classify.py).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
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
    texts = sample_texts(1024 + 32)
    items = [ClassifyInput(text=t, followers=100) for t in texts[:1024]]
    # Warm-up on texts not timed below: first-call allocations are not throughput, and a text the classifier
    # has seen comes from its dedupe cache.
    classifier.classify([ClassifyInput(text=t, followers=100) for t in texts[1024:]])

    started = time.perf_counter()
    for item in items[:200]:
        classifier.classify([item])
    single = 200 / (time.perf_counter() - started)

    started = time.perf_counter()
    rest = items[200:]  # not the single-call texts, for the same reason
    for i in range(0, len(rest), 32):
        classifier.classify(rest[i : i + 32])
    batched = len(rest) / (time.perf_counter() - started)
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


def classifier_vs_pipeline() -> dict[str, object]:
    from bench.classify import classifier_vs_pipeline, report

    result = classifier_vs_pipeline(sample_texts(5000))
    report(result)
    return result


def desk() -> dict[str, object]:
    import tempfile
    from pathlib import Path

    from bench.desk import report, run

    with tempfile.TemporaryDirectory(prefix="earful-bench-desk-") as workdir:
        result = run(Path(workdir))
    report(result)
    return result


def detection() -> dict[str, object]:
    import tempfile
    from pathlib import Path

    from bench.detection import report, run

    with tempfile.TemporaryDirectory(prefix="earful-bench-detection-") as workdir:
        result = run(Path(workdir))
    report(result)
    return result


def report_build() -> dict[str, object]:
    import tempfile
    from pathlib import Path

    from bench.report import report, run

    with tempfile.TemporaryDirectory(prefix="earful-bench-report-") as workdir:
        result = run(Path(workdir))
    report(result)
    return result


def machine_speed() -> str:
    """How fast this machine runs plain Python, to read the figures against: machines of the same kind differ
    (the report bench took 10.1 s on one 2-core machine and 22 s, same code, on another)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return f"a 10M-step Python loop takes {time.perf_counter() - started:.2f} s here"


def main() -> None:
    sections = sys.argv[1:]
    if sections not in ([], ["classify"], ["desk"], ["detection"], ["report"]):
        sys.exit("usage: python -m bench [classify|desk|detection|report]")
    print(f"earful bench ({os.cpu_count()} CPU cores; {machine_speed()})")
    if sections == ["classify"]:
        print(json.dumps({"classifier_vs_pipeline": classifier_vs_pipeline()}))
        return
    if sections == ["desk"]:
        print(json.dumps({"desk": desk()}))
        return
    if sections == ["detection"]:
        print(json.dumps({"detection": detection()}, default=str))
        return
    if sections == ["report"]:
        print(json.dumps({"report": report_build()}))
        return
    c = classification()
    print(
        f"classification: single {c['single_per_s']}/s, batch of 32 {c['batch32_per_s']}/s "
        f"(model load {c['model_load_s']}s)"
    )
    versus = classifier_vs_pipeline()
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
    desk_figures = desk()
    report_figures = report_build()
    print(
        json.dumps(
            {
                "classification": c,
                "ingest": ingest,
                "ingest_rate": rates,
                "classifier_vs_pipeline": versus,
                "desk": desk_figures,
                "report": report_figures,
            }
        )
    )


if __name__ == "__main__":
    main()
