"""The one query language of earful: brand terms (listener.terms) and the desk's `/` filter (store.inbox_filter)
are both read by this parser, so `OR`, `-`, `NOT`, "phrases" and parentheses mean the same thing everywhere.

It is X's rule language, the one most social media managers already write: a space or `AND` (binds tighter than
OR, as on X), `OR`, `-` or `NOT` before a term, "quoted phrases", parentheses, and `key:value` terms
(`key:"a value with spaces"` too). Operators are upper case, as on X: `or` is a word to look for.

Pure: text in, a syntax tree out. What a word or a `key:` means is the reader's business: the brand terms match
posts with it, the desk turns it into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

# Nesting past this is no query a person writes (a pasted page of brackets), and each level is a frame of the
# parser and of the database's own planner.
MAX_DEPTH = 20


class QueryError(ValueError):
    """The query is not valid: the message says where, and how to write it."""


@dataclass(frozen=True)
class Word:
    """A bare term as written: `order`, `@acme`, `#fail`, `10:30`."""

    text: str


@dataclass(frozen=True)
class Phrase:
    """A "quoted phrase": its words next to each other, in that order."""

    text: str


@dataclass(frozen=True)
class Field:
    """`key:value`, or `key:"quoted value"`. The value is empty for a `key:` with nothing after it."""

    key: str
    value: str
    quoted: bool = False


@dataclass(frozen=True)
class Not:
    inner: Syntax


@dataclass(frozen=True)
class All:
    parts: tuple[Syntax, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Syntax, ...]


Syntax = Word | Phrase | Field | Not | All | AnyOf

_OPERATOR_WORDS = ("AND", "OR", "NOT")


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "-", "word", "phrase", "field"
    text: str
    at: int  # the character it starts at, counted from 1 as a person counts
    value: str = ""


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i + 1))
            i += 1
        elif char == "-" and i + 1 < len(query) and not query[i + 1].isspace():
            tokens.append(_Token("-", "-", i + 1))
            i += 1
        elif char == '"':
            end = _closing_quote(query, i)
            tokens.append(_Token("phrase", query[i : end + 1], i + 1, query[i + 1 : end]))
            i = end + 1
        else:
            start = i
            while i < len(query) and not query[i].isspace() and query[i] not in '()"':
                i += 1
            text = query[start:i]
            key, sep, value = text.partition(":")
            if sep and key.isidentifier():
                if not value and i < len(query) and query[i] == '"':
                    end = _closing_quote(query, i)
                    value, i = query[i + 1 : end], end + 1
                    tokens.append(_Token("field", query[start:i], start + 1, value))
                    continue
                tokens.append(_Token("field", text, start + 1, value))
            else:
                tokens.append(_Token("word", text, start + 1))
    return tokens


def _closing_quote(query: str, start: int) -> int:
    end = query.find('"', start + 1)
    if end < 0:
        raise QueryError(f'the quote at character {start + 1} is never closed: add a " after the phrase')
    return end


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def peek_is(self, *words: str) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "word":
            return token.text in _OPERATOR_WORDS and token.text in words
        return token.kind in words

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse_or(self) -> Syntax:
        parts = [self.parse_and()]
        while self.peek_is("OR"):
            word = self.take()
            if self.peek() is None or self.peek_is(")", "OR", "AND"):
                raise QueryError(f"the OR at character {word.at} needs a term after it")
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def parse_and(self) -> Syntax:
        parts: list[Syntax] = []
        while (token := self.peek()) is not None and not self.peek_is(")", "OR"):
            if self.peek_is("AND"):
                self.take()
                if self.peek() is None or self.peek_is(")", "OR", "AND"):
                    raise QueryError(f"the AND at character {token.at} needs a term after it")
                if not parts:
                    raise QueryError(f"the AND at character {token.at} needs a term before it")
                continue
            parts.append(self.parse_unary())
        if not parts:
            token = self.peek()
            if token is None:
                raise QueryError(
                    "a term is missing at the end: finish the query, or remove its last operator"
                )
            if token.kind == ")":
                raise QueryError(f"nothing to group before the ) at character {token.at}")
            raise QueryError(f"the {token.text} at character {token.at} needs a term before it")
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def parse_unary(self) -> Syntax:
        if self.peek_is("-", "NOT"):
            token = self.take()
            if self.peek() is None or self.peek_is(")", "OR", "AND"):
                raise QueryError(f"the {token.text} at character {token.at} needs a term after it")
            return Not(self.parse_unary())
        return self.parse_atom()

    def parse_atom(self) -> Syntax:
        token = self.take()
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"parentheses nest more than {MAX_DEPTH} deep: write the query flatter")
            if self.peek_is(")"):
                raise QueryError(f"the () at character {token.at} holds nothing: put a term in it")
            if self.peek() is None:
                raise QueryError(f"the ( at character {token.at} is never closed: add a )")
            inner = self.parse_or()
            if not self.peek_is(")"):
                raise QueryError(f"the ( at character {token.at} is never closed: add a )")
            self.take()
            self.depth -= 1
            return inner
        if token.kind == ")":
            raise QueryError(f"the ) at character {token.at} closes nothing: remove it, or add a ( before")
        if token.kind == "phrase":
            return Phrase(token.value)
        if token.kind == "field":
            key = token.text.partition(":")[0]
            return Field(key, token.value, quoted=token.text[len(key) + 1 :].startswith('"'))
        return Word(token.text)


def parse(query: str) -> Syntax:
    """The syntax tree of `query`; QueryError, naming the place and the fix, when it is not a query."""
    tokens = _lex(query)
    if not tokens:
        raise QueryError("the query is empty")
    parser = _Parser(tokens)
    root = parser.parse_or()
    if (token := parser.peek()) is not None:
        if token.kind == ")":
            raise QueryError(f"the ) at character {token.at} closes nothing: remove it, or add a ( before")
        raise QueryError(f"unexpected {token.text!r} at character {token.at}")
    return root


def leaves(node: Syntax) -> list[Word | Phrase | Field]:
    """The terms of a tree, left to right (negated ones too)."""
    if isinstance(node, Not):
        return leaves(node.inner)
    if isinstance(node, All | AnyOf):
        return [leaf for part in node.parts for leaf in leaves(part)]
    return [node]


def write(node: Syntax) -> str:
    """The tree as a query again: `parse(write(tree)) == tree` for any tree `parse` made."""
    if isinstance(node, Word):
        return node.text
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, Field):
        return f'{node.key}:"{node.value}"' if node.quoted else f"{node.key}:{node.value}"
    if isinstance(node, Not):
        inner = write(node.inner)
        return f"-({inner})" if isinstance(node.inner, All | AnyOf) else f"-{inner}"
    if isinstance(node, All):
        return " ".join(f"({write(p)})" if isinstance(p, All | AnyOf) else write(p) for p in node.parts)
    return " OR ".join(f"({write(p)})" if isinstance(p, AnyOf) else write(p) for p in node.parts)
