"""A subset of X's rule and search query language, for the sandbox to decide what a rule or a search matches.

Supported: space = AND (binds tighter than OR, as on X), `OR`, `-` negation, "quoted phrases", parentheses,
`@handle` (mentioned in the text), `from:handle`, `to:handle`, `conversation_id:ID`, `lang:xx`, `is:reply`,
`is:retweet`, `#hashtag` and bare keywords. Keywords and phrases match X's way: on word tokens,
case-insensitive, so `order` matches "Order!" but not "reorder", and `"my order"` needs the two words next to
each other."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_TOKEN = re.compile(r"\w+", re.UNICODE)
_OPERATORS = ("from", "to", "conversation_id", "lang", "is")
_IS_VALUES = ("reply", "retweet", "quote", "verified")


class QueryError(ValueError):
    """The query is not valid; the message reads like X's rule validation detail."""


class Matchable(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def author_username(self) -> str: ...

    @property
    def conversation_id(self) -> str: ...

    @property
    def in_reply_to_username(self) -> str | None: ...

    @property
    def lang(self) -> str | None: ...


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def _contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    if not needle:
        return False
    width = len(needle)
    return any(list(haystack[i : i + width]) == list(needle) for i in range(len(haystack) - width + 1))


class Node:
    def matches(self, tweet: Matchable) -> bool:
        raise NotImplementedError

    @property
    def positive(self) -> bool:
        """Whether the node can match on its own; X refuses a rule made only of negations."""
        return True


@dataclass(frozen=True)
class Keyword(Node):
    tokens: tuple[str, ...]

    def matches(self, tweet: Matchable) -> bool:
        return _contains_run(words(tweet.text), self.tokens)


@dataclass(frozen=True)
class Mention(Node):
    handle: str

    def matches(self, tweet: Matchable) -> bool:
        pattern = rf"(?<![\w@])@{re.escape(self.handle)}(?!\w)"
        return re.search(pattern, tweet.text, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Hashtag(Node):
    tag: str

    def matches(self, tweet: Matchable) -> bool:
        return re.search(rf"(?<![\w#])#{re.escape(self.tag)}(?!\w)", tweet.text, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Operator(Node):
    name: str
    value: str

    def matches(self, tweet: Matchable) -> bool:
        value = self.value.casefold()
        if self.name == "from":
            return tweet.author_username.casefold() == value
        if self.name == "to":
            return (tweet.in_reply_to_username or "").casefold() == value
        if self.name == "conversation_id":
            return tweet.conversation_id == self.value
        if self.name == "lang":
            return (tweet.lang or "").casefold() == value
        if value == "reply":
            return tweet.in_reply_to_username is not None
        # The sandbox has no retweets, quotes or verified accounts.
        return False


@dataclass(frozen=True)
class Not(Node):
    inner: Node

    def matches(self, tweet: Matchable) -> bool:
        return not self.inner.matches(tweet)

    @property
    def positive(self) -> bool:
        return False


@dataclass(frozen=True)
class And(Node):
    parts: tuple[Node, ...]

    def matches(self, tweet: Matchable) -> bool:
        return all(part.matches(tweet) for part in self.parts)

    @property
    def positive(self) -> bool:
        return any(part.positive for part in self.parts)


@dataclass(frozen=True)
class Or(Node):
    parts: tuple[Node, ...]

    def matches(self, tweet: Matchable) -> bool:
        return any(part.matches(tweet) for part in self.parts)

    @property
    def positive(self) -> bool:
        return all(part.positive for part in self.parts)


def _lex(query: str) -> list[str]:
    """Tokens: '(', ')', '-', quoted phrases (kept with their quotes) and bare words."""
    tokens: list[str] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(char)
            i += 1
        elif char == "-" and i + 1 < len(query) and not query[i + 1].isspace():
            tokens.append("-")
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError(f"unterminated quoted phrase at position {i}")
            tokens.append(query[i : end + 1])
            i = end + 1
        else:
            start = i
            while i < len(query) and not query[i].isspace() and query[i] not in '()"':
                i += 1
            tokens.append(query[start:i])
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and(self) -> Node:
        parts: list[Node] = []
        while (token := self.peek()) is not None and token not in (")", "OR"):
            parts.append(self.parse_unary())
        if not parts:
            raise QueryError(f"expected a term at position {self.pos}")
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            if self.peek() in (None, ")", "OR"):
                raise QueryError("a '-' must be followed by a term")
            return Not(self.parse_unary())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        token = self.take()
        if token == "(":
            inner = self.parse_or()
            if self.peek() != ")":
                raise QueryError("unbalanced parentheses")
            self.take()
            return inner
        if token.startswith('"'):
            phrase = tuple(words(token[1:-1]))
            if not phrase:
                raise QueryError(f"empty phrase {token}")
            return Keyword(phrase)
        return _term(token)


def _term(token: str) -> Node:
    if token.startswith("@") and len(token) > 1:
        return Mention(token[1:])
    if token.startswith("#") and len(token) > 1:
        return Hashtag(token[1:])
    name, sep, value = token.partition(":")
    if sep and name.isidentifier() and value:
        if name not in _OPERATORS:
            raise QueryError(f"Reference to invalid operator '{name}'")
        if name == "is" and value not in _IS_VALUES:
            raise QueryError(f"Reference to invalid field 'is:{value}'")
        if name == "conversation_id" and not value.isdigit():
            raise QueryError(f"conversation_id needs a numeric id, got {value!r}")
        return Operator(name, value.removeprefix("@"))
    tokens = tuple(words(token))
    if not tokens:
        raise QueryError(f"there is nothing to match in {token!r}")
    return Keyword(tokens)


@dataclass(frozen=True)
class Query:
    text: str
    root: Node

    def matches(self, tweet: Matchable) -> bool:
        return self.root.matches(tweet)

    def authors(self) -> set[str]:
        """The handles the query follows with `from:` (not negated)."""
        found: set[str] = set()
        pending: list[Node] = [self.root]
        while pending:
            node = pending.pop()
            if isinstance(node, Operator) and node.name == "from":
                found.add(node.value)
            elif isinstance(node, And | Or):
                pending.extend(node.parts)
        return found


def compile_query(text: str) -> Query:
    tokens = _lex(text)
    if not tokens:
        raise QueryError("the query is empty")
    parser = _Parser(tokens)
    root = parser.parse_or()
    if parser.peek() is not None:
        raise QueryError(f"unexpected {parser.peek()!r} at position {parser.pos}")
    if not root.positive:
        raise QueryError("Rules must contain a non-negation term")
    return Query(text, root)
