"""A sentiment model from the Hugging Face hub (or a local copy) in place of earful's sentiment head.

Set `nlp.sentiment_model` to a sequence-classification model name, e.g.
`cardiffnlp/twitter-roberta-base-sentiment-latest`. earful loads offline by default (HF_HUB_OFFLINE=1 unless
you set it): with a hub connection, run once with HF_HUB_OFFLINE=0 to download, or give a local path.
The model's labels are mapped onto negative/neutral/positive by name (neg*/neu*/pos*), or by position for
models whose labels are LABEL_0..LABEL_2 (the cardiffnlp convention).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp.finetuned import ArtifactsError

SENTIMENT = ("negative", "neutral", "positive")


def label_order(id2label: dict[int, str]) -> list[int]:
    """For each of negative/neutral/positive, the model's output index."""
    names = {int(i): str(v).lower() for i, v in id2label.items()}
    if len(names) != 3:
        raise ArtifactsError(
            f"a sentiment model needs 3 labels (negative, neutral, positive); it has {sorted(names.values())}"
        )
    by_prefix = {}
    for target in SENTIMENT:
        hits = [i for i, name in names.items() if name.startswith(target[:3])]
        if len(hits) == 1:
            by_prefix[target] = hits[0]
    if len(by_prefix) == 3:
        return [by_prefix[t] for t in SENTIMENT]
    if sorted(names.values()) == ["label_0", "label_1", "label_2"]:
        return [0, 1, 2]
    raise ArtifactsError(
        f"cannot tell which of the model's labels {sorted(names.values())} is negative, neutral and positive"
    )


@dataclass
class HubSentiment:
    tokenizer: Any
    model: Any
    order: list[int]
    name: str
    max_length: int = 128
    batch_size: int = 32

    @classmethod
    def load(cls, name: str, *, max_length: int = 128) -> HubSentiment:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from nlp.encoder import _quiet_transformers

        try:
            with _quiet_transformers():
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(name)
                model = AutoModelForSequenceClassification.from_pretrained(name)
        except OSError as exc:
            raise ArtifactsError(
                f"cannot load the sentiment model {name!r}: {exc}. Give a local path, or download it once "
                "with HF_HUB_OFFLINE=0 on a machine that reaches the hub."
            ) from exc
        model.eval()
        return cls(tokenizer, model, label_order(model.config.id2label), name, max_length)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), 3), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                probs = torch.softmax(self.model(**batch).logits, dim=-1).numpy()
                out[start : start + len(probs)] = probs[:, self.order]
        return out
