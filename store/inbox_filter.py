"""The inbox filter: what a responder types after `/` (`net:x tier:critical sent:negative refund`), parsed once
into the query's terms. Pure: no database here; store.queries turns it into SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The canonical key of each field, in the order describe() writes them; the long names are read too.
_SHORT_KEYS = dict(
    networks="net", brands="brand", tiers="tier", sentiments="sent", languages="lang", tags="tag"
)
FILTER_KEYS = {key: name for name, key in _SHORT_KEYS.items()}
FILTER_KEYS.update(network="networks", sentiment="sentiments", language="languages")
_CHOICES = {
    "tiers": ("low", "normal", "high", "critical"),
    "sentiments": ("negative", "neutral", "positive"),
}
# A word, or a "quoted phrase" (an unclosed quote runs to the end: a half-typed query is not an error).
_TOKEN = re.compile(r'(?:([A-Za-z]+):)?(?:"([^"]*)"?|(\S+))')
_TERM = re.compile(r'"([^"]*)"?|(\S+)')
# Bounds on what a filter may ask for. Past them a search is no longer a search (a pasted page of text), and
# PostgreSQL gives up on the query itself: a 20,000-word phrase is "stack depth limit exceeded".
MAX_QUERY = 2000
MAX_CHARS = 1000
MAX_WORDS = 32
MAX_VALUES = 50


@dataclass(frozen=True)
class InboxFilter:
    """Which threads a view shows: each key narrows (values within a key are alternatives); `text` is searched."""

    networks: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    text: str = ""

    def __post_init__(self) -> None:
        # One spelling per filter, so parse(describe(f)) == f and equal filters compare equal.
        for name in _SHORT_KEYS:
            values = (v.strip().lower() for given in getattr(self, name) for v in _split(given))
            object.__setattr__(self, name, tuple(dict.fromkeys(v for v in values if v)))
        object.__setattr__(self, "text", " ".join(_quote(t) for t in search_terms(self.text)))
        _check_bounds(self)

    @classmethod
    def parse(cls, query: str) -> InboxFilter:
        """`net:x,mastodon tier:critical brand:"acme corp" never arrived` -> a filter; the rest is searched."""
        if len(query) > MAX_QUERY:
            raise ValueError(
                f"the filter is {len(query):,} characters long; keep it to {MAX_QUERY:,} "
                "(a few words, or net:, tier:, tag: to narrow the list)"
            )
        values: dict[str, list[str]] = {name: [] for name in _SHORT_KEYS}
        words: list[str] = []
        for match in _TOKEN.finditer(query):
            key, quoted, bare = match.groups()
            if key is None and quoted is None and re.fullmatch(r"[A-Za-z]+:", bare):
                key, bare = bare[:-1], ""  # "net:" with nothing after it
            if key is None:
                words.append(_quote(quoted) if quoted is not None else bare)
                continue
            name = FILTER_KEYS.get(key.lower())
            if name is None:
                raise ValueError(
                    f"unknown filter {key}: in {match.group(0)!r}; the filters are "
                    f"{', '.join(k + ':' for k in FILTER_KEYS)} (to search for the words, put them in quotes)"
                )
            given = [v.strip().lower() for v in _split(quoted if quoted is not None else bare) if v.strip()]
            if not given:
                raise ValueError(f"{key}: needs a value, e.g. {_SHORT_KEYS[name]}:{_example(name)}")
            for v in given:
                if name in _CHOICES and v not in _CHOICES[name]:
                    raise ValueError(f"{key}:{v} is not one of {', '.join(_CHOICES[name])}")
            values[name] += given
        return cls(**{name: tuple(v) for name, v in values.items()}, text=" ".join(words))

    def describe(self) -> str:
        parts = [
            f"{key}:{','.join(_quote(v) for v in getattr(self, name))}"
            for name, key in _SHORT_KEYS.items()
            if getattr(self, name)
        ]
        return " ".join([*parts, self.text] if self.text else parts)

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in _SHORT_KEYS) or bool(self.text)


def _check_bounds(filters: InboxFilter) -> None:
    if len(filters.text) > MAX_CHARS:
        raise ValueError(
            f"the search is {len(filters.text):,} characters long; keep it to {MAX_CHARS:,} "
            "(a few words; net:, tier:, tag: narrow the list too)"
        )
    words = sum(len(term.split()) for term in search_terms(filters.text))
    if words > MAX_WORDS:
        raise ValueError(
            f"the search has {words:,} words; up to {MAX_WORDS} in all, phrases included "
            "(net:, tier:, tag: narrow the list too)"
        )
    for name, key in _SHORT_KEYS.items():
        given = getattr(filters, name)
        if len(given) > MAX_VALUES or sum(map(len, given)) > MAX_CHARS:
            raise ValueError(f"{key}: lists {len(given):,} values; give up to {MAX_VALUES}")


def _quote(value: str) -> str:
    return f'"{value}"' if not value or re.search(r'[\s,"]', value) or ":" in value else value


def _example(name: str) -> str:
    examples = {"networks": "x", "brands": "acme", "languages": "en", "tags": "refund"}
    return examples.get(name) or _CHOICES[name][-1]


def _split(value: str) -> list[str]:
    # A quote inside a value cannot be written back out, and a control character (PostgreSQL refuses NUL) means
    # nothing to a filter: both go.
    return re.sub(r'[\x00-\x1f\x7f"]', "", value).split(",")


def search_terms(text: str) -> list[str]:
    """The words and "quoted phrases" of a free-text search, each once. A quote inside a word separates, as it
    does for both full-text engines; an unclosed quote runs to the end. A term without a letter or a digit
    (`*`, `(`, an emoji) can match nothing in either engine's index, so it is no part of the search."""
    # Control characters match nothing and PostgreSQL refuses NUL in a string: they separate words.
    text = re.sub(r"[\x00-\x1f\x7f]", " ", text)
    found = (quoted if quoted else bare.replace('"', " ") for quoted, bare in _TERM.findall(text))
    terms = (" ".join(t.split()) for t in found)
    return list(dict.fromkeys(t for t in terms if any(c.isalnum() for c in t)))
