"""JSON-lines classification for `earful classify`: one object in per line, one object out per line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, TextIO

from nlp.schema import Classification, ClassifyInput


class _Classifies(Protocol):
    def classify(self, items: list[ClassifyInput]) -> list[Classification]: ...


class ClassifyStats(NamedTuple):
    classified: int
    errors: int


def parse_line(raw: str) -> ClassifyInput:
    """One input line -> ClassifyInput; ValueError with a reader-friendly reason otherwise."""
    try:
        obj: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:  # e.g. a number of 5,000 digits, past Python's limit for int()
        raise ValueError(f"not valid JSON: {exc}") from None
    except RecursionError:
        # The parser recurses per level: a line of 100,000 brackets is no input, and must not end the run.
        raise ValueError('not valid input: JSON nested too deeply (expected {"text": "..."})') from None
    if not isinstance(obj, dict):
        raise ValueError(f'expected a JSON object like {{"text": "..."}}, got {type(obj).__name__}')
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError('missing "text" (a string)' if text is None else '"text" must be a string')
    followers = obj.get("followers", 0)
    if followers is None:
        followers = 0
    # bool is an int subclass: `"followers": true` is a mistake, not one follower. 12.0 is fine, 12.5 is not.
    whole = isinstance(followers, int) or (isinstance(followers, float) and followers.is_integer())
    if isinstance(followers, bool) or not whole or followers < 0:
        raise ValueError(f'"followers" must be a non-negative integer, got {json.dumps(followers)}')
    return ClassifyInput(text=text, followers=int(followers))


def classify_lines(
    lines: Iterable[str],
    classifier: _Classifies,
    out: TextIO,
    batch_size: int = 32,
    *,
    errors: TextIO | None = None,
    dumps: Callable[[Any], str] = json.dumps,
) -> ClassifyStats:
    """Classify JSON lines in batches and write one JSON line per input, in input order.

    Blank lines are skipped. A bad line yields {"error": reason, "line": N} (N counts from 1) in its place,
    is told on `errors` as "line N: reason", and the run goes on. Output is flushed after every batch so a
    pipe sees results as they come. `dumps` writes each record (the CLI's makes it safe on a terminal).
    """
    pending: list[tuple[int, ClassifyInput | str]] = []
    stats = [0, 0]

    def flush() -> None:
        inputs = [item for _, item in pending if isinstance(item, ClassifyInput)]
        results = iter(classifier.classify(inputs)) if inputs else iter(())
        for line_no, item in pending:
            if isinstance(item, ClassifyInput):
                record: dict[str, Any] = next(results).to_json()
                stats[0] += 1
            else:
                record = {"error": item, "line": line_no}
                stats[1] += 1
                if errors is not None:
                    errors.write(f"line {line_no}: {item}\n")
            out.write(dumps(record) + "\n")
        out.flush()
        pending.clear()

    n_inputs = 0
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            pending.append((line_no, parse_line(raw)))
            n_inputs += 1
        except ValueError as exc:
            pending.append((line_no, str(exc)))
        if n_inputs >= batch_size:
            flush()
            n_inputs = 0
    if pending:
        flush()
    return ClassifyStats(classified=stats[0], errors=stats[1])
