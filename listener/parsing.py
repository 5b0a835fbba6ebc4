"""What every network's parser shares, so that nothing a network sends can end a session.

A session that raises on one event reconnects, is sent the same event again from its cursor, and raises again:
one post stops a network for good. So everything on the ingest path that reads outside data raises only
`Malformed` (the source puts the event aside with that reason and its bytes, and goes on): the JSON reader
here, each network's time and id parsers, and the step that builds the store's model of a mention.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeGuard

from pydantic import ValidationError


class Malformed(ValueError):
    """An event, line or item that cannot become a mention; `reason` is what the quarantine shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(data: str | bytes, what: str) -> Any:
    """JSON, or Malformed naming `what` and why: invalid JSON or UTF-8, NaN and Infinity (no JSON encoder writes
    them), numbers of thousands of digits, nesting as deep as Python's stack. (What is kept of an event that
    nests deep but readably is bounded by the store's model, as every field is.)"""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise Malformed(f"{what} is nested too deeply to read") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Malformed(f"{what} is not JSON: {_first_line(exc)}") from None


def ascii_digits(value: object) -> TypeGuard[str]:
    """A decimal number as ids are written: "¹²³" and "١٢٣" pass `str.isdigit()`, then fail `int()`."""
    return isinstance(value, str) and value.isascii() and value.isdigit()


@contextmanager
def malformed_if_refused() -> Iterator[None]:
    """Around building a `NewMention` (or its `Author`): what the store's model refuses (an id that is no id, a
    date before any post) is this event's fault, not the session's."""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
            for error in exc.errors()
        )
        raise Malformed(f"the store cannot take it ({problems[:300]})") from None
    except RecursionError:
        raise Malformed("it is nested too deeply to store") from None


def raw_bytes(value: object) -> bytes:
    """What a parsed event is kept aside as: its JSON, or its repr when even that cannot be written."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        return repr(value).encode("utf-8", "surrogatepass")
    except RecursionError:
        return f"<a {type(value).__name__} nested too deeply to write out>".encode()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
