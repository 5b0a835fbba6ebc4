"""The runtime classifier: one encoder pass per mention feeds the sentiment, complaint and severity heads."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.config import NLPSettings
from nlp.encoder import Encoder
from nlp.entities import EntityExtractor
from nlp.heads import ArtifactsError, Head, load_heads, packaged_artifacts_dir
from nlp.schema import SEVERITY_NONE, Classification, ClassifyInput
from nlp.text import CHARS_PER_TOKEN_CAP, normalize, scrub
from nlp.urgency import tier_for, urgency_score

COMPLAINT_THRESHOLD = 0.5
# Heads are only valid for the encoder they were trained on; a probe sentence embedded at training time
# tells a swapped encoder apart from a merely re-downloaded copy of the same one.
PROBE_MIN_COSINE = 0.99
# The encoder runs a micro-batch as length-sorted forward chunks of this size: on a 2-core CPU, chunks of 8
# pad less and run ~30% faster than one padded forward over 32 tweets of mixed length (measured).
FORWARD_CHUNK = 8


class Classifier:
    def __init__(
        self,
        settings: NLPSettings,
        encoder: Encoder,
        heads: dict[str, Head],
        meta: dict[str, Any],
        entities: EntityExtractor,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.heads = heads
        self.meta = meta
        self.entities = entities

    @classmethod
    def load(cls, settings: NLPSettings | None = None) -> Classifier:
        settings = settings if settings is not None else NLPSettings()
        directory = settings.artifacts_dir if settings.artifacts_dir is not None else packaged_artifacts_dir()
        # Heads first: a missing artifact fails in milliseconds instead of after the torch import.
        heads, meta = load_heads(directory)
        encoder = Encoder.load(settings.encoder, max_length=settings.max_length, batch_size=FORWARD_CHUNK)
        for head in heads.values():
            if head.input_dim != encoder.dim:
                raise ArtifactsError(
                    f"the '{head.name}' head expects {head.input_dim}-dim embeddings but encoder "
                    f"{encoder.name!r} gives {encoder.dim}; retrain with `make train` for this encoder."
                )
        classifier = cls(settings, encoder, heads, meta, EntityExtractor(settings.products))
        classifier._check_probe(directory)
        classifier.entities.warm_up()
        return classifier

    def _check_probe(self, directory: Path) -> None:
        probe = self.meta.get("encoder_probe")
        if not probe:
            return
        expected = np.asarray(probe["embedding"], dtype=np.float32)
        got = self.encoder.embed([probe["text"]])[0]
        cosine = float(got @ expected)
        if cosine < PROBE_MIN_COSINE:
            warnings.warn(
                f"encoder {self.encoder.name!r} does not match the one the heads in {directory} were "
                f"trained on ({self.meta.get('encoder')!r}; probe cosine {cosine:.3f}); scores will be "
                "unreliable until the heads are retrained with `make train`.",
                RuntimeWarning,
                stacklevel=3,
            )

    @property
    def encoder_name(self) -> str:
        return self.encoder.name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised unit embeddings, exactly what the heads read."""
        cap = self.settings.max_length * CHARS_PER_TOKEN_CAP
        return self.encoder.embed([normalize(t, max_chars=cap) for t in texts])

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Head probabilities per text: sentiment (n, 3), complaint (n, 2), severity (n, 4)."""
        x = self.embed(texts)
        return {name: head.predict_proba(x) for name, head in self.heads.items()}

    def classify(self, items: Sequence[ClassifyInput]) -> list[Classification]:
        if not items:
            return []
        texts = [scrub(item.text) for item in items]
        probs = self.predict(texts)
        entities = self.entities.extract(texts)
        sentiment_labels = self.heads["sentiment"].labels
        severity_labels = self.heads["severity"].labels
        negative = sentiment_labels.index("negative")
        weights = self.settings.urgency
        results = []
        for i, item in enumerate(items):
            p_sent = probs["sentiment"][i]
            p_complaint = float(probs["complaint"][i][1])
            p_sev = probs["severity"][i]
            is_complaint = p_complaint >= COMPLAINT_THRESHOLD
            severity = int(np.argmax(p_sev)) + 1 if is_complaint else 0
            score = urgency_score(
                complaint=p_complaint,
                severity_probs=[float(p) for p in p_sev],
                negative=float(p_sent[negative]),
                followers=item.followers,
                weights=weights,
            )
            results.append(
                Classification(
                    sentiment=sentiment_labels[int(np.argmax(p_sent))],
                    sentiment_probs={
                        k: round(float(p), 4) for k, p in zip(sentiment_labels, p_sent, strict=True)
                    },
                    complaint=round(p_complaint, 4),
                    severity=severity,
                    severity_label=severity_labels[severity - 1] if severity else SEVERITY_NONE,
                    urgency=score,
                    tier=tier_for(score, weights),
                    entities=entities[i],
                )
            )
        return results
