"""Rule-based entities: ids a responder can paste, with offsets that point at them in the raw text."""

from __future__ import annotations

import pytest

from nlp.entities import EntityExtractor


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor(["iPhone 15", "iPhone 15 Pro", "Prime Video"])


def found(extractor: EntityExtractor, text: str) -> list[tuple[str, str]]:
    (entities,) = extractor.extract([text])
    for ent in entities:
        assert text[ent["start"] : ent["end"]] == ent["text"], ent  # offsets index the raw text
    return [(e["label"], e["text"]) for e in entities]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@acme my order #123456 never came", [("ORDER", "123456")]),
        ("where is #W12345678?", [("ORDER", "W12345678")]),
        ("order number 112-3456789-1234567.", [("ORDER", "112-3456789-1234567")]),
        ("Amazon 112-3456789-1234567 is late", [("ORDER", "112-3456789-1234567")]),
        ("case 01234567, ticket: 12345", [("ORDER", "01234567"), ("ORDER", "12345")]),
        ("Order No. 998877 please", [("ORDER", "998877")]),
        ("(order#123456)", [("ORDER", "123456")]),
        ("my case number is 0123-4567", [("ORDER", "0123-4567")]),
    ],
)
def test_order_numbers(extractor: EntityExtractor, text: str, expected: list[tuple[str, str]]) -> None:
    assert found(extractor, text) == expected


@pytest.mark.parametrize(
    "text",
    ["in case 2017 was bad", "order 2 pizzas", "#1 fan #blessed", "call 555-123-4567", "I was #12 in line"],
)
def test_numbers_that_are_not_orders(extractor: EntityExtractor, text: str) -> None:
    assert found(extractor, text) == []


def test_email_found_and_masks_ignored(extractor: EntityExtractor) -> None:
    text = "write to jane.doe+help@example.co.uk, not __email__ (masked in exports)"
    assert found(extractor, text) == [("EMAIL", "jane.doe+help@example.co.uk")]


def test_products_case_insensitive_longest_match(extractor: EntityExtractor) -> None:
    text = "my IPHONE 15 pro died and prime video won't load on the iphone 15"
    assert found(extractor, text) == [
        ("PRODUCT", "IPHONE 15 pro"),
        ("PRODUCT", "prime video"),
        ("PRODUCT", "iphone 15"),
    ]


def test_exact_offsets(extractor: EntityExtractor) -> None:
    text = "Hi! Order #123456 for a@b.io"
    (ents,) = extractor.extract([text])
    assert ents == [
        {"label": "ORDER", "text": "123456", "start": 11, "end": 17},
        {"label": "EMAIL", "text": "a@b.io", "start": 22, "end": 28},
    ]


def test_no_products_configured() -> None:
    assert EntityExtractor().extract(["iPhone 15 order #1234567"]) == [[{
        "label": "ORDER", "text": "1234567", "start": 17, "end": 24,
    }]]  # fmt: skip


def test_empty_and_odd_text(extractor: EntityExtractor) -> None:
    texts = ["", "   ", "😡" * 50 + " order #123456", "\u200b\u202eorder #654321", "x" * 100_000]
    results = extractor.extract(texts)
    assert len(results) == len(texts)
    assert [e["text"] for e in results[2]] == ["123456"]
