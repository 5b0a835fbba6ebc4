"""What every fake server writes as JSON: text that is always valid UTF-8, whatever it was given.

A test (or a client) may hand a sandbox text with a lone surrogate: Python strings hold one, UTF-8 cannot. Written
raw, the post would fail every answer and every stream event that carries it, for every later request, which
no real server does. Escaped (`\\ud800`), it is valid JSON and UTF-8 that reads back as the very same string: the
odd text reaches the collector under test, as odd text from a real network would."""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps(value, ensure_ascii=False)`, lone surrogates written as escapes."""
    text = json.dumps(value, ensure_ascii=False, **options)
    # Outside strings json.dumps writes only ASCII, so every surrogate here sits inside a string literal.
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def dumps_bytes(value: Any, **options: Any) -> bytes:
    return dumps(value, **options).encode("utf-8")
