"""Text normalisation shared by training and inference, so the heads see the same text shape in both."""

from __future__ import annotations

import html
import re

# TweetEval (the sentiment benchmark) writes every handle as "@user"; the heads were trained on that shape.
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

# MiniLM sees at most a few hundred tokens; cutting the string first keeps a 100k-character paste from
# costing a full tokenisation. 20 characters per token is far above what real text averages.
CHARS_PER_TOKEN_CAP = 20


def scrub(text: str) -> str:
    """Replace lone surrogates (from bad JSON escapes) with U+FFFD, one for one, so offsets stay valid and
    the tokenizer and UTF-8 output never choke on them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def normalize(text: str, *, max_chars: int | None = None) -> str:
    """Canonical model input: HTML entities decoded, handles -> @user, URLs -> http, whitespace collapsed."""
    if max_chars is not None:
        text = text[:max_chars]
    text = scrub(text)
    text = html.unescape(text)
    text = _HANDLE.sub("@user", text)
    text = _URL.sub("http", text)
    return _SPACE.sub(" ", text).strip()
