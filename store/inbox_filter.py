"""The inbox filter: what a responder types after `/`, in the brand terms' own language (store.query_language):

    tier:critical,high (refund OR "never arrived") -net:reddit

A space or AND, OR, `-` or NOT, "phrases", parentheses; `key:value` narrows by a thread's facts (values after
one key, comma-separated, are alternatives); any other word or phrase is looked for in the thread's messages and
in its customer's name and handles. Pure: no database here; store.inbox_search turns a filter into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from store.query_language import (
    All,
    AnyOf,
    Field,
    Not,
    Phrase,
    QueryError,
    Syntax,
    Word,
    leaves,
    parse,
    write,
)

# The canonical key of each filter, in the order the help lists them; the long names are read too.
FILTER_KEYS = {
    "net": "net",
    "brand": "brand",
    "tier": "tier",
    "sent": "sent",
    "lang": "lang",
    "tag": "tag",
    "from": "from",
    "network": "net",
    "sentiment": "sent",
    "language": "lang",
}
_CHOICES = {
    "tier": ("low", "normal", "high", "critical"),
    "sent": ("negative", "neutral", "positive"),
}
_EXAMPLES = {"net": "x", "brand": "acme", "lang": "en", "tag": "refund", "from": "jane"}
# Bounds on what a filter may ask for. Past them a search is no longer a search (a pasted page of text), and
# PostgreSQL gives up on the query itself: a 20,000-word phrase is "stack depth limit exceeded".
MAX_QUERY = 2000
MAX_CHARS = 1000
MAX_WORDS = 32
MAX_VALUES = 50
MAX_TERMS = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = re.compile(r"\w+")


class FilterError(QueryError):
    """A filter that cannot be run, said so the responder can fix it in the filter bar."""


@dataclass(frozen=True)
class InboxFilter:
    """Which threads a view shows: `tree` is the parsed query (None: every thread)."""

    tree: Syntax | None = None

    @classmethod
    def parse(cls, query: str) -> InboxFilter:
        """`net:x,mastodon (refund OR late) -tier:low` -> a filter; FilterError says what is wrong and where."""
        if len(query) > MAX_QUERY:
            raise FilterError(
                f"the filter is {len(query):,} characters long; keep it to {MAX_QUERY:,} "
                "(a few words, or net:, tier:, tag: to narrow the list)"
            )
        # Control characters match nothing, and PostgreSQL refuses NUL in a string: they separate words.
        query = _CONTROL.sub(" ", query)
        if not query.strip():
            return cls()
        try:
            tree = _normalise(parse(query))
        except FilterError:
            raise
        except QueryError as exc:
            raise FilterError(str(exc)) from exc
        _check_bounds(tree)
        return cls(tree)

    @classmethod
    def of(cls, *parts: str) -> InboxFilter:
        """Every part must hold: `InboxFilter.of("net:x", "refund")` (for code; people type a query)."""
        return cls.parse(" ".join(f"({part})" for part in parts if part.strip()))

    def describe(self) -> str:
        return write(self.tree) if self.tree is not None else ""

    def __bool__(self) -> bool:
        return self.tree is not None


def words(text: str) -> list[str]:
    """The words of a term as both full-text indexes split it: letters and digits."""
    return _WORD.findall(text.casefold())


def values(field: Field) -> list[str]:
    """A normalised `key:` term's alternatives."""
    return field.value.split(",")


def _normalise(node: Syntax) -> Syntax:
    """One spelling per filter (canonical keys, lower-case values, each once), so equal filters compare equal and
    parse(describe(f)) == f; every key and value checked, every term searchable."""
    if isinstance(node, Not):
        return Not(_normalise(node.inner))
    if isinstance(node, All):
        return All(tuple(_normalise(part) for part in node.parts))
    if isinstance(node, AnyOf):
        return AnyOf(tuple(_normalise(part) for part in node.parts))
    if isinstance(node, Field):
        return _field(node)
    if not words(node.text):
        shown = f'"{node.text}"' if isinstance(node, Phrase) else node.text
        raise FilterError(
            f"{shown} has no letter or digit to search for: remove it, or search for a word of the message"
        )
    return node


def _field(field: Field) -> Field:
    key = FILTER_KEYS.get(field.key.lower())
    if key is None:
        raise FilterError(
            f"unknown filter {field.key}: in {field.key}:{field.value}; the filters are "
            f"{', '.join(k + ':' for k in FILTER_KEYS)} (to search for the text, put it in quotes)"
        )
    # A quote cannot be written back out inside a value.
    given = [v.strip().lower() for v in field.value.replace('"', "").split(",")]
    given = list(dict.fromkeys(v for v in given if v))
    if not given:
        example = _EXAMPLES.get(key) or _CHOICES[key][-1]
        raise FilterError(f"{field.key}: needs a value, e.g. {key}:{example}")
    if key == "from":
        given = [v.removeprefix("@").removeprefix("u/") for v in given]
    for value in given:
        if key in _CHOICES and value not in _CHOICES[key]:
            raise FilterError(f"{field.key}:{value} is not one of {', '.join(_CHOICES[key])}")
    if len(given) > MAX_VALUES or sum(map(len, given)) > MAX_CHARS:
        raise FilterError(f"{key}: lists {len(given):,} values; give up to {MAX_VALUES}")
    value = ",".join(given)
    return Field(key, value, quoted=bool(re.search(r"\s", value)))


def _check_bounds(tree: Syntax) -> None:
    terms = leaves(tree)
    if len(terms) > MAX_TERMS:
        raise FilterError(
            f"the filter has {len(terms):,} terms; up to {MAX_TERMS} (net:, tier:, tag: narrow too)"
        )
    texts = [t.text for t in terms if isinstance(t, Word | Phrase)]
    chars = sum(map(len, texts))
    if chars > MAX_CHARS:
        raise FilterError(
            f"the search is {chars:,} characters long; keep it to {MAX_CHARS:,} "
            "(a few words; net:, tier:, tag: narrow the list too)"
        )
    count = sum(len(words(text)) for text in texts)
    if count > MAX_WORDS:
        raise FilterError(
            f"the search has {count:,} words; up to {MAX_WORDS} in all, phrases included "
            "(net:, tier:, tag: narrow the list too)"
        )
