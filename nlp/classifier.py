"""The runtime classifier: one encoder pass per distinct text feeds the sentiment, complaint and severity
heads and the explanation of its urgency.

The encoder is MiniLM with the shipped LoRA adapters merged in, run by ONNX Runtime (int8) or torch
(nlp/runtime.py). Heads are linear over mean-pooled token states, with temperatures fitted on validation data,
so the probabilities are calibrated; sentiment's label adds decision offsets chosen on validation data.
Texts already seen (retweets, copy-paste campaigns) are answered from a small cache without a forward pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp.config import NLPSettings
from nlp.entities import EntityExtractor
from nlp.explain import explain
from nlp.finetuned import LABELS, ArtifactsError, packaged_artifacts_dir, read_artifacts
from nlp.runtime import TokenEncoder, load_encoder
from nlp.schema import SEVERITY_NONE, Classification, ClassifyInput
from nlp.text import CHARS_PER_TOKEN_CAP, normalize, scrub
from nlp.urgency import risk_matches, text_need, tier_for, urgency_score

COMPLAINT_THRESHOLD = 0.5


@dataclass(frozen=True)
class TextScores:
    """What the model says about one normalised text; independent of author, thread and customer."""

    sentiment: np.ndarray  # (3,) calibrated probabilities
    complaint: float
    severity: np.ndarray  # (4,)
    explanation: tuple[str, ...]
    # The mean-pooled encoder state, L2-normalised (float32): what near-duplicate detection compares.
    embedding: np.ndarray


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32), so a dot product is the cosine similarity; a zero row stays zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Classifier:
    def __init__(
        self,
        settings: NLPSettings,
        encoder: TokenEncoder,
        heads: dict[str, tuple[np.ndarray, np.ndarray]],
        meta: dict[str, Any],
        entities: EntityExtractor,
        sentiment_model: Any | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.heads = heads
        self.meta = meta
        self.entities = entities
        self.sentiment_model = sentiment_model
        cal = meta.get("calibration", {})
        self.temperatures = {t: float(cal.get(t, {}).get("temperature", 1.0)) for t in LABELS}
        # Sentiment's label is argmax(log p + offsets): offsets chosen on TweetEval val for macro-recall, so a
        # class is not under-called just because it was rare in training (see MODEL_CARD.md).
        self.decision_offsets = np.asarray(cal.get("sentiment", {}).get("decision_offsets", [0.0, 0.0, 0.0]))
        self._cache: OrderedDict[str, TextScores] = OrderedDict()
        self.cache_hits = 0

    @classmethod
    def load(cls, settings: NLPSettings | None = None) -> Classifier:
        settings = settings if settings is not None else NLPSettings()
        directory = settings.artifacts_dir if settings.artifacts_dir is not None else packaged_artifacts_dir()
        # The model files first: a missing artifact fails in milliseconds instead of after the torch import.
        adapters, arrays, meta = read_artifacts(directory)
        heads = {
            t: (arrays[f"{t}.W0"].astype(np.float64), arrays[f"{t}.b0"].astype(np.float64)) for t in LABELS
        }
        from nlp.encoder import describe_source, packaged_encoder_path

        base = packaged_encoder_path() if settings.encoder is None else settings.encoder
        try:
            encoder = load_encoder(
                base_path=base,
                name=describe_source(settings.encoder),
                adapters=adapters,
                model_file=directory / "model.npz",
                backend=settings.backend,
                quantize=settings.quantize,
                max_length=settings.max_length,
                threads=settings.threads,
            )
        except KeyError as exc:
            raise ArtifactsError(
                f"the model in {directory} was trained on another encoder than {base!r} ({exc}); "
                "retrain with `make train` for this encoder, or unset nlp.encoder."
            ) from exc
        for task, (w, _) in heads.items():
            if w.shape[0] != encoder.dim:
                raise ArtifactsError(
                    f"the '{task}' head expects {w.shape[0]}-dim states but encoder {encoder.name!r} gives "
                    f"{encoder.dim}; retrain with `make train` for this encoder."
                )
        sentiment_model = None
        if settings.sentiment_model:
            from nlp.hub import HubSentiment

            sentiment_model = HubSentiment.load(settings.sentiment_model, max_length=settings.max_length)
        classifier = cls(settings, encoder, heads, meta, EntityExtractor(settings.products), sentiment_model)
        classifier.entities.warm_up()
        return classifier

    @property
    def encoder_name(self) -> str:
        return self.encoder.name

    # ------------------------------------------------------------------ model outputs

    def _logits(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        return {t: (pooled @ w + b) / self.temperatures[t] for t, (w, b) in self.heads.items()}

    def raw_logits(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Uncalibrated head logits, straight from the encoder (no cache): what calibration is fitted on."""
        encoded = self.encoder.encode([self.normalize(t) for t in texts])
        if not encoded:
            return {t: np.zeros((0, len(labels))) for t, labels in LABELS.items()}
        pooled = np.stack([e.states.mean(axis=0) for e in encoded]).astype(np.float64)
        return {t: pooled @ w + b for t, (w, b) in self.heads.items()}

    def sentiment_index(self, probs: np.ndarray) -> np.ndarray:
        """The sentiment label index for (n, 3) probabilities (or one row), by the decision rule."""
        offsets = self.decision_offsets if self.sentiment_model is None else 0.0  # a hub model's own argmax
        return np.argmax(np.log(np.clip(probs, 1e-12, 1.0)) + offsets, axis=-1)

    def _score_new(self, texts: Sequence[str]) -> list[TextScores]:
        encoded = self.encoder.encode(texts)
        pooled = np.stack([e.states.mean(axis=0) for e in encoded]).astype(np.float64)
        embeddings = unit_rows(pooled)
        probs = {t: softmax(z) for t, z in self._logits(pooled).items()}
        if self.sentiment_model is not None:
            probs["sentiment"] = self.sentiment_model.predict(texts)
        out = []
        for i, (text, enc) in enumerate(zip(texts, encoded, strict=True)):
            phrases = explain(
                text,
                enc.offsets,
                enc.states,
                self.heads,
                self.temperatures,
                self.settings.urgency,
            )
            out.append(
                TextScores(
                    probs["sentiment"][i],
                    float(probs["complaint"][i][1]),
                    probs["severity"][i],
                    tuple(phrases),
                    embeddings[i].copy(),  # a view would pin the whole batch in the cache
                )
            )
        return out

    def score_texts(self, texts: Sequence[str]) -> list[TextScores]:
        """Scores per text (already normalised); each distinct text goes through the encoder once."""
        unique: dict[str, TextScores | None] = {}
        for text in texts:
            if text in unique:
                continue
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.cache_hits += 1
            unique[text] = cached
        todo = [t for t, s in unique.items() if s is None]
        if todo:
            for text, scores in zip(todo, self._score_new(todo), strict=True):
                unique[text] = scores
                if self.settings.cache_size:
                    self._cache[text] = scores
            while len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)
        return [s for s in (unique[t] for t in texts) if s is not None]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors, one per text: the mean-pooled encoder states of the normalised text.

        Cosine similarity is their dot product. They come with the scores, so a text classified recently is
        answered from the cache without a forward pass."""
        scores = self.score_texts([self.normalize(t) for t in texts])
        if not scores:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([s.embedding for s in scores])

    def normalize(self, text: str) -> str:
        return normalize(scrub(text), max_chars=self.settings.max_length * CHARS_PER_TOKEN_CAP)

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Calibrated probabilities per text: sentiment (n, 3), complaint (n, 2), severity (n, 4)."""
        scores = self.score_texts([self.normalize(t) for t in texts])
        return {
            "sentiment": np.array([s.sentiment for s in scores]).reshape(len(scores), 3),
            "complaint": np.array([[1 - s.complaint, s.complaint] for s in scores]).reshape(len(scores), 2),
            "severity": np.array([s.severity for s in scores]).reshape(len(scores), 4),
        }

    # ------------------------------------------------------------------ the public call

    def classify(self, items: Sequence[ClassifyInput]) -> list[Classification]:
        if not items:
            return []
        raw = [scrub(item.text) for item in items]
        scores = self.score_texts([self.normalize(t) for t in raw])
        entities = self.entities.extract(raw)
        weights = self.settings.urgency
        sentiment_labels = LABELS["sentiment"]
        severity_labels = LABELS["severity"]
        results = []
        for item, text, s, ents in zip(items, raw, scores, entities, strict=True):
            negative = float(s.sentiment[0])
            is_complaint = s.complaint >= COMPLAINT_THRESHOLD
            severity = int(np.argmax(s.severity)) + 1 if is_complaint else 0
            risks = risk_matches(text, weights.risk_terms)
            score = urgency_score(
                complaint=s.complaint,
                severity_probs=[float(p) for p in s.severity],
                negative=negative,
                followers=item.followers,
                weights=weights,
                risky=bool(risks),
                prior_contacts=item.prior_contacts,
                customer_tier=item.customer_tier,
            )
            explanation = list(s.explanation)
            if text_need(s.complaint, [float(p) for p in s.severity], negative, weights) < 0.2:
                explanation = []  # nothing pushed it up much: naming words would be noise
            for _category, word in risks:
                if not any(word.lower() in p.lower() for p in explanation):
                    explanation.append(word)
            results.append(
                Classification(
                    sentiment=sentiment_labels[int(self.sentiment_index(s.sentiment))],
                    sentiment_probs={
                        k: round(float(p), 4) for k, p in zip(sentiment_labels, s.sentiment, strict=True)
                    },
                    complaint=round(s.complaint, 4),
                    severity=severity,
                    severity_label=severity_labels[severity - 1] if severity else SEVERITY_NONE,
                    urgency=score,
                    tier=tier_for(score, weights),
                    entities=ents,
                    explanation=explanation,
                    risks=[category for category, _ in risks],
                )
            )
        return results
