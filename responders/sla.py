"""SLA clocks: how long each urgency tier may wait for a first answer."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field


class SLASettings(BaseModel):
    """Minutes to answer, per urgency tier."""

    critical: int = Field(default=15, gt=0)
    high: int = Field(default=60, gt=0)
    normal: int = Field(default=240, gt=0)
    low: int = Field(default=1440, gt=0)

    def budgets(self) -> dict[str, timedelta]:
        return {tier: timedelta(minutes=minutes) for tier, minutes in self.model_dump().items()}
