"""The sandbox's rule/query matcher: the subset of X's language our rules and searches use."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from listener.terms import QueryError, compile_query


@dataclass
class FakeTweet:
    text: str
    author_username: str = "janedoe"
    conversation_id: str = "100"
    in_reply_to_username: str | None = None
    lang: str | None = "en"


def matches(query: str, text: str, **fields: object) -> bool:
    return compile_query(query).matches(FakeTweet(text, **fields))  # type: ignore[arg-type]


def test_keywords_match_whole_words_case_insensitively() -> None:
    assert matches("order", "Where is my ORDER?")
    assert matches("order", "#order never came")
    assert not matches("order", "I had to reorder it")


def test_space_is_and() -> None:
    assert matches("late refund", "the refund is late")
    assert not matches("late refund", "the refund came")


def test_quoted_phrase_needs_adjacent_words() -> None:
    assert matches('"my order"', "Where is My order, acme?")
    assert not matches('"my order"', "my second order")


def test_or_and_precedence() -> None:
    # AND binds tighter than OR, as on X: (acme AND refund) OR delta
    assert matches("acme refund OR delta", "delta lost my bag")
    assert matches("acme refund OR delta", "acme, where is my refund")
    assert not matches("acme refund OR delta", "acme is great")


def test_parentheses_group() -> None:
    assert matches("acme (refund OR return)", "acme return label please")
    assert not matches("acme (refund OR return)", "refund please")


def test_negation_of_words_phrases_and_groups() -> None:
    assert matches("acme -job", "acme broke my phone")
    assert not matches("acme -job", "acme job offer")
    assert not matches('acme -"gift card"', "acme gift card scam")
    assert not matches("acme -(job OR hiring)", "acme is hiring")


def test_mentions_are_case_insensitive_and_exact_handles() -> None:
    assert matches("@AcmeCo", "hey @acmeco my order")
    assert not matches("@AcmeCo", "hey @AcmeCoSupport")
    assert not matches("@AcmeCo", "mail me at someone@AcmeCo.com")


def test_from_and_conversation_operators() -> None:
    assert matches("from:AcmeCo", "We are on it", author_username="acmeco")
    assert not matches("from:AcmeCo", "We are on it", author_username="janedoe")
    assert matches("conversation_id:42 from:AcmeCo", "done", author_username="AcmeCo", conversation_id="42")
    assert not matches("conversation_id:42", "done", conversation_id="43")


def test_brand_rule_shape() -> None:
    rule = '@AcmeCo OR from:AcmeCo OR acme OR "my order" OR (acme shoes)'
    assert matches(rule, "@ACMECO help")
    assert matches(rule, "thanks", author_username="AcmeCo")
    assert matches(rule, "where is my order")
    assert not matches(rule, "nothing to see here")


def test_from_handles_are_reported() -> None:
    assert compile_query("@A OR from:B OR (c -from:D)").authors() == {"B"}


@pytest.mark.parametrize("bad", ["", "-acme", '"unterminated', "(acme", "acme OR", "bogus:thing", "()"])
def test_invalid_queries_are_refused(bad: str) -> None:
    with pytest.raises(QueryError):
        compile_query(bad)


@pytest.mark.parametrize(
    ("term", "rule"),
    [
        ('acme AND (refund OR "late delivery") NOT job', 'acme (refund OR "late delivery") -job'),
        ("NOT (jobs OR hiring) acme", "-(jobs OR hiring) acme"),
        ("@AcmeSupport OR #acmefail", "@AcmeSupport OR #acmefail"),
    ],
)
def test_brand_terms_in_words_become_the_same_rule_on_x(term, rule):
    """AND/NOT are the desk's words; X gets its own syntax, and both match the same posts."""
    assert compile_query(term).x_rule() == rule
    for text in ("acme refund please", "acme job refund", "my acme late delivery", "@AcmeSupport hi"):
        assert matches(term, text) == matches(rule, text)


@pytest.mark.parametrize("bad", ["acme AND", "NOT", "acme AND OR b"])
def test_a_dangling_operator_word_is_refused(bad):
    with pytest.raises(QueryError):
        compile_query(bad)
