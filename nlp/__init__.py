"""earful's classifier: text in, scores out (sentiment, complaint, severity, urgency, entities).

Importing this package is cheap: names resolve on first use, and torch/transformers/spaCy load only when
a Classifier is built. `nlp` imports nothing else of earful's.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nlp.batching import next_batch
    from nlp.classifier import Classifier
    from nlp.config import NLPSettings, UrgencyWeights
    from nlp.finetuned import ArtifactsError
    from nlp.schema import Classification, ClassifyInput

__all__ = [
    "ArtifactsError",
    "Classification",
    "Classifier",
    "ClassifyInput",
    "NLPSettings",
    "UrgencyWeights",
    "next_batch",
]

_WHERE = {
    "ArtifactsError": "nlp.finetuned",
    "Classification": "nlp.schema",
    "Classifier": "nlp.classifier",
    "ClassifyInput": "nlp.schema",
    "NLPSettings": "nlp.config",
    "UrgencyWeights": "nlp.config",
    "next_batch": "nlp.batching",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'nlp' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
