"""Helpers for driving the desk in tests."""

from __future__ import annotations

import time
from collections.abc import Callable


async def wait_for(pilot, condition: Callable[[], object], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
