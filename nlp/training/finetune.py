"""Multi-task fine-tuning of the MiniLM encoder with LoRA adapters: one encoder pass, three linear heads.

Two stages, so that 10-fold cross-validation on the complaint data stays affordable on a laptop CPU and
never lets a test fold leak into the encoder:

- **Stage A** (once, ~35 min on 2 cores): adapters + heads on data that is never evaluated on for
  complaints or severity: the SemEval-2013..16 sentiment pool (TweetEval val/test removed) plus Twitter
  US Airline Sentiment for the sentiment head, and X-FINCORP (banking complaints, named severity levels)
  for the complaint and severity heads. The epoch with the best TweetEval *val* macro-recall is kept.
- **Stage B** (per fold, ~5 min): continue from stage A on the complaint rows of the fold's training part
  (complaint head on all of them, severity head on the complaints), with a replay of sentiment batches so
  the sentiment head does not drift. 10% of the training part is kept back to calibrate.

Heads are linear over the mean-pooled token states (no L2 normalisation), so every logit is an exact sum
of per-token contributions: that is what the explanations read (see nlp/explain.py).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nlp.training.cache import Progress

Log = Callable[[str], None]
TASK_CLASSES = {"sentiment": 3, "complaint": 2, "severity": 4}


@dataclass(frozen=True)
class Recipe:
    """Every knob of the fine-tuning run; stored in meta.json so a run can be repeated exactly."""

    seed: int = 13
    rank: int = 16
    alpha: float = 32.0
    lora_dropout: float = 0.05
    pool_dropout: float = 0.1
    max_length: int = 128
    batch_size: int = 32
    lr: float = 5e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    epochs_a: int = 2
    epochs_b: int = 4
    lr_b: float = 3e-4
    head_lr_b: float = 1e-3
    severity_repeat_b: int = 1  # the severity examples go round this many times per stage-B epoch
    replay: float = 1.0  # sentiment examples replayed in stage B per complaint training example
    calibration_fraction: float = 0.1
    # Class weights are (n / (k * n_c)) ** power: 1 = fully balanced, 0 = none.
    balance: Mapping[str, float] = field(
        default_factory=lambda: {"sentiment": 0.5, "complaint": 1.0, "severity": 1.0}
    )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["balance"] = dict(self.balance)
        return d


@dataclass
class TaskData:
    task: str
    ids: list[list[int]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: np.ndarray) -> TaskData:
        return TaskData(self.task, [self.ids[i] for i in idx], self.labels[idx])


def set_threads() -> None:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))


def load_base() -> tuple[Any, Any]:
    """The packaged MiniLM and its tokenizer, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from nlp.encoder import _quiet_transformers, packaged_encoder_path

    with _quiet_transformers():
        from transformers import AutoModel, AutoTokenizer

        path = packaged_encoder_path()
        return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    from nlp.text import CHARS_PER_TOKEN_CAP

    cap = max_length * CHARS_PER_TOKEN_CAP
    out = tokenizer([t[:cap] for t in texts], truncation=True, max_length=max_length)
    return [list(x) for x in out["input_ids"]]


def build_model(encoder: Any, recipe: Recipe) -> Any:
    import torch

    from nlp.lora import add_adapters

    class MultiTask(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.adapter_params = add_adapters(
                encoder, rank=recipe.rank, alpha=recipe.alpha, dropout=recipe.lora_dropout, seed=recipe.seed
            )
            dim = encoder.config.hidden_size
            self.drop = torch.nn.Dropout(recipe.pool_dropout)
            self.heads = torch.nn.ModuleDict({t: torch.nn.Linear(dim, k) for t, k in TASK_CLASSES.items()})

        def pooled(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)

        def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, task: str) -> torch.Tensor:
            return self.heads[task](self.drop(self.pooled(input_ids, mask)))

    import torch as _torch

    _torch.manual_seed(recipe.seed)
    return MultiTask()


def _pad(batch: Sequence[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(x) for x in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return ids, mask


def _length_batches(data: TaskData, rng: np.random.Generator, size: int) -> list[tuple[str, np.ndarray]]:
    """Shuffled batches of similar length: shuffle, sort within pools of 50 batches, cut, shuffle again."""
    order = rng.permutation(len(data))
    pool = size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort([len(data.ids[i]) for i in chunk], kind="stable")]
        batches += [(data.task, chunk[i : i + size]) for i in range(0, len(chunk), size)]
    return batches


def class_weights(labels: np.ndarray, k: int, power: float) -> np.ndarray:
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    w = (len(labels) / (k * np.maximum(counts, 1.0))) ** power
    return (w / (w * counts).sum() * counts.sum()).astype(np.float32)


def train_epochs(
    model: Any,
    datasets: Sequence[TaskData],
    *,
    epochs: int,
    lr: float,
    head_lr: float,
    recipe: Recipe,
    pad_id: int,
    rng: np.random.Generator,
    label: str,
    replay: TaskData | None = None,
    replay_per_epoch: int = 0,
    after_epoch: Callable[[int], None] | None = None,
) -> None:
    """AdamW, linear warm-up then linear decay; each epoch mixes every task's batches in a seeded order."""
    import torch

    weights = {
        d.task: torch.from_numpy(class_weights(d.labels, TASK_CLASSES[d.task], recipe.balance[d.task]))
        for d in [*datasets, *([replay] if replay is not None else [])]
    }

    def epoch_batches() -> list[tuple[TaskData, np.ndarray]]:
        plan: list[tuple[TaskData, np.ndarray]] = []
        for d in datasets:
            plan += [(d, idx) for _, idx in _length_batches(d, rng, recipe.batch_size)]
        if replay is not None and replay_per_epoch:
            sample = replay.subset(
                rng.choice(len(replay), size=min(replay_per_epoch, len(replay)), replace=False)
            )
            plan += [(sample, idx) for _, idx in _length_batches(sample, rng, recipe.batch_size)]
        return [plan[i] for i in rng.permutation(len(plan))]

    steps_per_epoch = sum(math.ceil(len(d) / recipe.batch_size) for d in datasets)
    if replay is not None and replay_per_epoch:
        steps_per_epoch += math.ceil(min(replay_per_epoch, len(replay)) / recipe.batch_size)
    total = steps_per_epoch * epochs
    warm = max(1, int(total * recipe.warmup))
    optimizer = torch.optim.AdamW(
        [
            {"params": model.adapter_params, "lr": lr},
            {"params": list(model.heads.parameters()), "lr": head_lr},
        ],
        weight_decay=recipe.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    progress = Progress(label, total, verb="training", unit=" steps", every=20.0)
    step = 0
    for epoch in range(epochs):
        model.train()
        for data, idx in epoch_batches():
            ids, mask = _pad([data.ids[i] for i in idx], pad_id)
            logits = model(ids, mask, data.task)
            target = torch.from_numpy(data.labels[idx])
            loss = torch.nn.functional.cross_entropy(logits, target, weight=weights[data.task])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            progress(step)
        if after_epoch is not None:
            after_epoch(epoch)


def predict_logits(
    model: Any, ids: Sequence[list[int]], pad_id: int, batch: int = 64
) -> dict[str, np.ndarray]:
    """Logits of every head for token-id lists, in input order."""
    import torch

    model.eval()
    out = {t: np.zeros((len(ids), k), dtype=np.float32) for t, k in TASK_CLASSES.items()}
    order = np.argsort([len(x) for x in ids], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            tokens, mask = _pad([ids[i] for i in idx], pad_id)
            pooled = model.pooled(tokens, mask)
            for task, head in model.heads.items():
                out[task][idx] = head(pooled).numpy()
    return out


def snapshot(model: Any) -> dict[str, Any]:
    """A copy of everything trainable (adapters, LayerNorms, heads), to restore the best epoch."""
    return {
        "adapters": [p.detach().clone() for p in model.adapter_params],
        "heads": copy.deepcopy(model.heads.state_dict()),
    }


def restore(model: Any, snap: Mapping[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for p, saved in zip(model.adapter_params, snap["adapters"], strict=True):
            p.copy_(saved)
    model.heads.load_state_dict(snap["heads"])


def head_arrays(model: Any) -> dict[str, np.ndarray]:
    """Heads as (in x out) weights and biases, the layout nlp/classifier.py reads."""
    arrays = {}
    for task, head in model.heads.items():
        arrays[f"{task}.W0"] = head.weight.detach().float().numpy().T.copy()
        arrays[f"{task}.b0"] = head.bias.detach().float().numpy().copy()
    return arrays


# ---------------------------------------------------------------- calibration


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising NLL on held-back data (temperature scaling, Guo et al. 2017)."""
    import torch

    x = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp().item())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins (the usual 15)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return float(ece)


def elapsed(start: float) -> str:
    s = int(time.monotonic() - start)
    return f"{s // 60}m{s % 60:02d}s"
