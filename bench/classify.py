"""Classifier speed side by side: earful's classifier against a plain `transformers` pipeline, same tweets.

earful runs twice, as shipped (ONNX Runtime, int8) and with the torch backend (fp32), so the table shows where the
speed comes from. The baseline is what a team would write without earful: a RoBERTa-base-sized sequence classifier
(random weights: only the time matters) in `transformers.pipeline("text-classification")`. It is built from its
config, not the hub, and tokenises with the MiniLM tokenizer earful ships (its 30,522 ids fit in RoBERTa's 50,265).

Fair play: both get the same CPU threads and a warm-up; texts are cut to the same 128 tokens; single means one text
per call, batched means 32 per call. earful is timed on distinct texts it has not seen, so its dedupe cache does not
flatter it; the "campaign" line then shows what that cache does when half the mentions repeat (retweets, a
copy-pasted complaint). earful's figures include its whole `classify` call (entities, urgency, explanations); the
pipeline's are the label alone.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

BATCH = 32
MAX_LENGTH = 128  # earful's NLPSettings.max_length default; the pipeline truncates at the same length
WARM_UP = 32
SINGLE = 200
BATCHED = 1024
BASELINE_SINGLE = 50  # the baseline is slow: fewer texts, same rate arithmetic
BASELINE_BATCHED = 256
CAMPAIGN_DISTINCT = 512  # each posted twice: 1,024 mentions, 50% repeats
TARGET = 3.0


def _rate(n: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return n / (time.perf_counter() - started)


def _distinct(classifier: Any, texts: Sequence[str], n: int) -> list[str]:
    """The first `n` texts that stay distinct after earful's normalisation (what its cache is keyed on)."""
    seen: set[str] = set()
    out: list[str] = []
    for text in texts:
        key = classifier.normalize(text)
        if key not in seen:
            seen.add(key)
            out.append(text)
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} distinct texts in the sample, {n} needed")


def _load(backend: Literal["onnx", "torch"], threads: int) -> Any:
    from nlp import Classifier, NLPSettings

    return Classifier.load(NLPSettings(backend=backend, quantize=True, threads=threads))


def _earful(classifier: Any, texts: dict[str, list[str]], campaign: bool) -> dict[str, float]:
    from nlp import ClassifyInput

    def items(rows: Sequence[str]) -> list[Any]:
        return [ClassifyInput(text=t, followers=100) for t in rows]

    def batches(rows: list[Any]) -> None:
        for i in range(0, len(rows), BATCH):
            classifier.classify(rows[i : i + BATCH])

    warm = items(texts["warm_up"])
    classifier.classify(warm)  # first-call allocations are not throughput
    for item in warm[:4]:
        classifier.classify([item])
    ones, many = items(texts["single"]), items(texts["batched"])
    hits = classifier.cache_hits
    out = {
        "single_per_s": _rate(len(ones), lambda: [classifier.classify([item]) for item in ones]),
        "batch32_per_s": _rate(len(many), lambda: batches(many)),
    }
    out["cache_hits"] = classifier.cache_hits - hits  # 0: every timed text was new to this classifier
    if campaign:
        posts = items(texts["campaign"])
        hits = classifier.cache_hits
        out["campaign_batch32_per_s"] = _rate(len(posts), lambda: batches(posts))
        out["campaign_mentions"] = len(posts)
        out["campaign_distinct"] = len(set(texts["campaign"]))
        # Repeats inside one call are scored once too, without counting as cache hits.
        out["campaign_cache_hits"] = classifier.cache_hits - hits
    return out


def _pipeline(texts: dict[str, list[str]], single: int, batched: int) -> dict[str, float]:
    import warnings

    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification, pipeline
    from transformers.utils import logging as hf_logging

    from nlp.encoder import packaged_encoder_path

    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(packaged_encoder_path())
    # Base size (125M parameters), random weights. num_labels is a PretrainedConfig kwarg the typed dataclass
    # signature of transformers 5 does not list.
    config = RobertaConfig(num_labels=3)  # type: ignore[call-arg]
    model = RobertaForSequenceClassification(config).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    cut = {"truncation": True, "max_length": MAX_LENGTH}
    classify(texts["warm_up"], batch_size=BATCH, **cut)
    for text in texts["warm_up"][:4]:
        classify(text, **cut)
    ones, many = texts["single"][:single], texts["batched"][:batched]
    return {
        "single_per_s": _rate(len(ones), lambda: [classify(text, **cut) for text in ones]),
        "batch32_per_s": _rate(len(many), lambda: classify(many, batch_size=BATCH, **cut)),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }


def classifier_vs_pipeline(
    sample: Sequence[str],
    single: int = SINGLE,
    batched: int = BATCHED,
    baseline_single: int = BASELINE_SINGLE,
    baseline_batched: int = BASELINE_BATCHED,
    campaign_distinct: int = CAMPAIGN_DISTINCT,
) -> dict[str, Any]:
    """Mentions/s for earful (ONNX int8, torch fp32) and the pipeline baseline on the same `sample` texts."""
    import torch

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    onnx = _load("onnx", threads)
    # Distinct after normalisation, and disjoint slices: warm-up, single, batched and campaign never share a text.
    # earful's two backends are separate classifiers, each with its own cache, so both time the same texts.
    pool = _distinct(onnx, sample, WARM_UP + single + batched + campaign_distinct)
    start = WARM_UP + single + batched
    repeated = pool[start:] * 2
    random.Random(0).shuffle(repeated)
    texts = {
        "warm_up": pool[:WARM_UP],
        "single": pool[WARM_UP : WARM_UP + single],
        "batched": pool[WARM_UP + single : start],
        "campaign": repeated,
    }
    rows = {"earful_onnx_int8": _earful(onnx, texts, campaign=True)}
    del onnx
    rows["earful_torch_fp32"] = _earful(_load("torch", threads), texts, campaign=False)
    rows["pipeline_roberta_base"] = _pipeline(texts, baseline_single, baseline_batched)
    base = rows["pipeline_roberta_base"]
    for figures in rows.values():
        figures["single_x"] = figures["single_per_s"] / base["single_per_s"]
        figures["batch32_x"] = figures["batch32_per_s"] / base["batch32_per_s"]
    earful = rows["earful_onnx_int8"]
    earful["campaign_x"] = earful["campaign_batch32_per_s"] / base["batch32_per_s"]
    counts = {"single": single, "batched": batched, "baseline_single": baseline_single,
              "baseline_batched": baseline_batched, "campaign": len(repeated)}  # fmt: skip
    return {
        "threads": threads,
        "counts": counts,
        **{name: {k: round(v, 2) for k, v in figures.items()} for name, figures in rows.items()},
    }


def report(result: dict[str, Any]) -> None:
    labels = {
        "earful_onnx_int8": "earful onnx-int8",
        "earful_torch_fp32": "earful torch fp32",
        "pipeline_roberta_base": "transformers pipeline roberta-base",
    }
    width = max(map(len, labels.values()))
    print(
        f"classifier vs plain transformers pipeline ({result['threads']} threads each, distinct tweets, "
        f"target >= {TARGET:.0f}x):"
    )
    print(f"  {'':<{width}}  {'single/s':>9}  {'batch32/s':>9}  {'x single':>8}  {'x batch32':>9}")
    for key, label in labels.items():
        r = result[key]
        print(
            f"  {label:<{width}}  {r['single_per_s']:>9.1f}  {r['batch32_per_s']:>9.1f}  "
            f"{r['single_x']:>7.1f}x  {r['batch32_x']:>8.1f}x"
        )
    c = result["earful_onnx_int8"]
    print(
        f"  campaign, 50% repeats, earful onnx-int8 batch of 32: {c['campaign_batch32_per_s']:.1f}/s, "
        f"{c['campaign_x']:.1f}x the pipeline's batch32 ({c['campaign_mentions']:.0f} mentions, "
        f"{c['campaign_distinct']:.0f} distinct texts, each scored once)"
    )
