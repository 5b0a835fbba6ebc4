"""nlp fixtures: the committed heads, loaded once per session (loading takes a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import Classifier, NLPSettings
from nlp.training.data import DataDirError, resolve_data_dir

PRODUCTS = ["iPhone 15", "Prime Video"]


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier.load(NLPSettings(products=PRODUCTS))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared research data; tests needing it skip on machines that do not have it."""
    try:
        return resolve_data_dir(None)
    except DataDirError as exc:
        pytest.skip(str(exc))
