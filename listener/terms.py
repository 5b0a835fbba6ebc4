"""Brand terms: one boolean query language, evaluated the same way on every network.

It is X's rule language, the one most social media managers already write, with words for the operators too:
space or `AND` (binds tighter than OR, as on X), `OR`, `-` or `NOT` for negation, "quoted phrases",
parentheses, `@handle` (mentioned in the text), `from:handle`, `to:handle`, `conversation_id:ID`, `lang:xx`,
`is:reply`, `is:retweet`, `#hashtag` and bare keywords. Keywords and phrases match on word tokens,
case-insensitive, so `order` matches "Order!" but not "reorder", and `"my order"` needs the two words next to
each other.

The grammar is read by store.query_language, the parser the desk's filter shares; this module says what each
term means for a post. X evaluates the rules itself (`Query.x_rule()` renders them in X's own syntax); Mastodon,
Bluesky and Reddit deliver more than a brand wants, so their collectors keep a post only if `BrandMatcher` says it
matches. The X sandbox evaluates rules and searches with this same code, so what the sandbox streams is what X
would."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from store import query_language as syntax_tree
from store.query_language import QueryError

_TOKEN = re.compile(r"\w+", re.UNICODE)
_OPERATORS = ("from", "to", "conversation_id", "lang", "is")
_IS_VALUES = ("reply", "retweet", "quote", "verified")


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

    def x(self) -> str:
        """This node in X's rule syntax."""
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

    def x(self) -> str:
        return self.tokens[0] if len(self.tokens) == 1 else '"' + " ".join(self.tokens) + '"'


@dataclass(frozen=True)
class Mention(Node):
    handle: str

    def matches(self, tweet: Matchable) -> bool:
        pattern = rf"(?<![\w@])@{re.escape(self.handle)}(?!\w)"
        return re.search(pattern, tweet.text, re.IGNORECASE) is not None

    def x(self) -> str:
        return f"@{self.handle}"


@dataclass(frozen=True)
class Hashtag(Node):
    tag: str

    def matches(self, tweet: Matchable) -> bool:
        return re.search(rf"(?<![\w#])#{re.escape(self.tag)}(?!\w)", tweet.text, re.IGNORECASE) is not None

    def x(self) -> str:
        return f"#{self.tag}"


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
        # Retweets, quotes and verified accounts exist only on X, which evaluates these operators itself.
        return False

    def x(self) -> str:
        return f"{self.name}:{self.value}"


@dataclass(frozen=True)
class Not(Node):
    inner: Node

    def matches(self, tweet: Matchable) -> bool:
        return not self.inner.matches(tweet)

    def x(self) -> str:
        inner = self.inner.x()
        return f"-({inner})" if isinstance(self.inner, And | Or) else f"-{inner}"

    @property
    def positive(self) -> bool:
        return False


@dataclass(frozen=True)
class And(Node):
    parts: tuple[Node, ...]

    def matches(self, tweet: Matchable) -> bool:
        return all(part.matches(tweet) for part in self.parts)

    def x(self) -> str:
        return " ".join(f"({part.x()})" if isinstance(part, Or) else part.x() for part in self.parts)

    @property
    def positive(self) -> bool:
        return any(part.positive for part in self.parts)


@dataclass(frozen=True)
class Or(Node):
    parts: tuple[Node, ...]

    def matches(self, tweet: Matchable) -> bool:
        return any(part.matches(tweet) for part in self.parts)

    def x(self) -> str:
        return " OR ".join(part.x() for part in self.parts)

    @property
    def positive(self) -> bool:
        return all(part.positive for part in self.parts)


def _node(syntax: syntax_tree.Syntax) -> Node:
    """The shared syntax tree (store.query_language) as nodes that match posts and render as X rules."""
    if isinstance(syntax, syntax_tree.Not):
        return Not(_node(syntax.inner))
    if isinstance(syntax, syntax_tree.All):
        return And(tuple(_node(part) for part in syntax.parts))
    if isinstance(syntax, syntax_tree.AnyOf):
        return Or(tuple(_node(part) for part in syntax.parts))
    if isinstance(syntax, syntax_tree.Phrase):
        phrase = tuple(words(syntax.text))
        if not phrase:
            raise QueryError(f'empty phrase "{syntax.text}"')
        return Keyword(phrase)
    if isinstance(syntax, syntax_tree.Field):
        return _operator(syntax)
    return _term(syntax.text)


def _operator(field: syntax_tree.Field) -> Node:
    name, value = field.key, field.value
    if not value:
        return _term(f"{name}:")  # "from:" with nothing after it is the word
    if name not in _OPERATORS:
        raise QueryError(f"Reference to invalid operator '{name}'")
    if field.quoted and (not value.strip() or any(c.isspace() for c in value)):
        raise QueryError(f"{name}: takes one value without spaces, got {value!r}")
    if name == "is" and value not in _IS_VALUES:
        raise QueryError(f"Reference to invalid field 'is:{value}'")
    if name == "conversation_id" and not (value.isascii() and value.isdigit()):
        raise QueryError(f"conversation_id needs a numeric id, got {value!r}")
    return Operator(name, value.removeprefix("@"))


def _term(token: str) -> Node:
    if token.startswith("@") and len(token) > 1:
        return Mention(token[1:])
    if token.startswith("#") and len(token) > 1:
        return Hashtag(token[1:])
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

    def x_rule(self) -> str:
        """The query in X's own syntax (`AND`/`NOT` written as X writes them), for stream rules and search."""
        return self.root.x()

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
    root = _node(syntax_tree.parse(text))
    if not root.positive:
        raise QueryError("Rules must contain a non-negation term")
    return Query(text, root)


@dataclass(frozen=True)
class Post:
    """Any network's post, as the query language sees it (the fields of `Matchable`)."""

    text: str
    author_username: str = ""
    conversation_id: str = ""
    in_reply_to_username: str | None = None
    lang: str | None = None


class BrandMatcher:
    """Which configured brands a post is about: any of a brand's terms matches, or it names one of the brand's
    own accounts on that network. Built once at start, so a bad term fails there with the brand and term named."""

    def __init__(self, brands: Sequence[_Brand], network: str) -> None:
        self._rules: list[tuple[str, list[Query], list[Node]]] = []
        for brand in brands:
            queries = []
            for term in brand.terms:
                if not term.strip():
                    continue
                try:
                    queries.append(compile_query(term))
                except QueryError as exc:
                    raise QueryError(f"brand {brand.name!r}, term {term!r}: {exc}") from exc
            handles: list[Node] = [Mention(handle) for handle in brand.handles(network)]
            self._rules.append((brand.name, queries, handles))

    def brands(self, post: Matchable) -> list[str]:
        return [
            name
            for name, queries, handles in self._rules
            if any(q.matches(post) for q in queries) or any(h.matches(post) for h in handles)
        ]

    def first(self, post: Matchable) -> str | None:
        found = self.brands(post)
        return found[0] if found else None


class _Brand(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def terms(self) -> list[str]: ...

    def handles(self, network: str) -> list[str]: ...
