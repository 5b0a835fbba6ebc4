"""The one normalised shape every collector produces, and the scores the classifier adds to it.

Plain pydantic models (not tables), so they cross the bus as JSON unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from store.clock import utcnow

# NUL and unpaired surrogates: PostgreSQL refuses both in text and JSON, SQLite's string functions stop at a NUL,
# and neither means anything in a post. Every mention drops them here, whichever network it came from.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def storable_json(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    return value


class Author(BaseModel):
    native_user_id: str
    handle: str = ""
    display_name: str = ""
    followers: int = 0

    @field_validator("native_user_id", "handle", "display_name")
    @classmethod
    def _storable(cls, value: str) -> str:
        return storable(value)


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

    @field_validator("native_id", "conversation_id", "text", "language", "reply_to_native_id", "brand")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return None if value is None else storable(value)

    @field_validator("raw")
    @classmethod
    def _storable_raw(cls, value: dict[str, Any]) -> dict[str, Any]:
        cleaned: dict[str, Any] = storable_json(value)
        return cleaned


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
