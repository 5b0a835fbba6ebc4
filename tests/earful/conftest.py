from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def classifier():
    """The shipped classifier, loaded once: it takes a few seconds."""
    from nlp import Classifier

    return Classifier.load()
