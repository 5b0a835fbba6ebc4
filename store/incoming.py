"""The one normalised shape every collector produces, and the scores the classifier adds to it.

Plain pydantic models (not tables), so they cross the bus as JSON unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from store.clock import utcnow


class Author(BaseModel):
    native_user_id: str
    handle: str = ""
    display_name: str = ""
    followers: int = 0


class NewMention(BaseModel):
    network: str
    native_id: str
    conversation_id: str
    text: str
    created_at: datetime
    author: Author
    language: str | None = None
    reply_to_native_id: str | None = None
    brand: str = ""
    # Posted by one of the brand's own accounts: part of the thread, never an inbox item.
    is_own: bool = False
    raw: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime = Field(default_factory=utcnow)
    # The source cursor this mention advances, stored in the same transaction as the mention itself.
    source: str | None = None
    cursor: str | None = None


class Scores(BaseModel):
    sentiment: str | None = None
    sentiment_probs: dict[str, float] = Field(default_factory=dict)
    complaint: float | None = None
    severity: int | None = None
    severity_label: str | None = None
    urgency: int = 0
    urgency_tier: str = "low"
    entities: list[dict[str, Any]] = Field(default_factory=list)
    # The words that pushed urgency up (strongest first) and the risk categories the text matched.
    explanation: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)


class ScoredMention(BaseModel):
    mention: NewMention
    scores: Scores = Field(default_factory=Scores)
