"""`earful classify`: JSON lines in, JSON lines out, bad lines reported in place without stopping."""

from __future__ import annotations

import io
import json

import pytest

from nlp import Classifier, ClassifyInput
from nlp.cli import classify_lines, parse_line

KEYS = {
    "sentiment",
    "explanation",
    "risks",
    "sentiment_probs",
    "complaint",
    "severity",
    "severity_label",
    "urgency",
    "tier",
    "entities",
}


def run(lines: list[str], classifier: Classifier, batch_size: int = 32) -> list[dict]:
    out = io.StringIO()
    classify_lines(lines, classifier, out, batch_size=batch_size)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_bad_line_in_the_middle_keeps_order(classifier: Classifier) -> None:
    lines = [
        json.dumps({"text": "@acme thanks, all sorted!", "followers": 10}),
        '{"text": "broken json',
        json.dumps({"text": "@acme my order #123456 is lost and nobody replies", "followers": 50_000}),
        "",
        json.dumps({"followers": 3}),
        json.dumps({"text": "what are your opening hours?"}),
    ]
    records = run(lines, classifier, batch_size=2)
    assert len(records) == 5  # the blank line is skipped
    assert set(records[0]) == KEYS and records[0]["sentiment"] == "positive"
    assert records[1]["line"] == 2 and "not valid JSON" in records[1]["error"]
    assert set(records[2]) == KEYS and records[2]["entities"][0]["text"] == "123456"
    assert records[3] == {"error": 'missing "text" (a string)', "line": 5}
    assert set(records[4]) == KEYS


class CountingFake:
    """Stands in for the classifier where only batching and ordering matter."""

    def __init__(self, real: Classifier) -> None:
        self.real = real
        self.batches: list[int] = []

    def classify(self, items: list[ClassifyInput]):  # type: ignore[no-untyped-def]
        self.batches.append(len(items))
        return self.real.classify(items)


def test_batches_are_bounded(classifier: Classifier) -> None:
    fake = CountingFake(classifier)
    lines = [json.dumps({"text": f"message {i}"}) for i in range(7)]
    out = io.StringIO()
    stats = classify_lines(lines, fake, out, batch_size=3)
    assert fake.batches == [3, 3, 1]
    assert stats.classified == 7 and stats.errors == 0
    assert len(out.getvalue().splitlines()) == 7


def test_only_bad_lines(classifier: Classifier) -> None:
    fake = CountingFake(classifier)
    out = io.StringIO()
    stats = classify_lines(["[1, 2]", "null"], fake, out)
    assert fake.batches == []
    assert stats.errors == 2
    assert [json.loads(x)["line"] for x in out.getvalue().splitlines()] == [1, 2]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not valid JSON"),
        ('"just a string"', "expected a JSON object"),
        ('{"text": 5}', '"text" must be a string'),
        ('{"text": "hi", "followers": -1}', '"followers" must be a non-negative integer'),
        ('{"text": "hi", "followers": "many"}', '"followers" must be a non-negative integer'),
        ('{"text": "hi", "followers": true}', '"followers" must be a non-negative integer'),
        ('{"text": "hi", "followers": 1.5}', '"followers" must be a non-negative integer'),
        ('{"text": "hi", "followers": Infinity}', '"followers" must be a non-negative integer'),
    ],
)
def test_parse_errors_are_clear(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_line(raw)


def test_parse_accepts_optional_followers() -> None:
    assert parse_line('{"text": "hi"}') == ClassifyInput("hi", 0)
    assert parse_line('{"text": "hi", "followers": null}') == ClassifyInput("hi", 0)
    assert parse_line('{"text": "hi", "followers": 12.0, "extra": 1}') == ClassifyInput("hi", 12)


def test_a_deeply_nested_line_is_reported_and_every_other_line_classified(classifier: Classifier) -> None:
    """Python's JSON parser recurses per level: 100,000 brackets raised RecursionError, which ended the run and
    lost the batch of good results waiting before it."""
    lines = [
        json.dumps({"text": "@acme thanks, all sorted!"}),
        '{"text": ' + "[" * 100_000,
        json.dumps({"text": "@acme my parcel is lost"}),
        '{"text": "hi", "followers": ' + "9" * 5000 + "}",
    ]
    out, told = io.StringIO(), io.StringIO()
    stats = classify_lines(lines, classifier, out, batch_size=8, errors=told)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (stats.classified, stats.errors) == (2, 2)
    assert set(records[0]) == KEYS and set(records[2]) == KEYS
    assert records[1] == {
        "error": 'not valid input: JSON nested too deeply (expected {"text": "..."})',
        "line": 2,
    }
    assert records[3]["line"] == 4 and records[3]["error"].startswith("not valid JSON: Exceeds the limit")
    assert (
        told.getvalue().splitlines()[0]
        == 'line 2: not valid input: JSON nested too deeply (expected {"text": "..."})'
    )
    assert (
        told.getvalue().splitlines()[1].startswith("line 4: not valid JSON: Exceeds the limit (4300 digits)")
    )
