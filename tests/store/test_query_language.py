"""The one query language (brand terms and the desk's filter): whatever is typed is either a query or a QueryError
saying where and why, never another exception; and a query written back out reads as the same query."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from store.inbox_filter import FilterError, InboxFilter
from store.query_language import All, AnyOf, Field, Not, Phrase, QueryError, Word, parse, write

# Text made mostly of the language's own characters, so the parser's corners are reached often.
typed = st.lists(
    st.sampled_from([*'ab ()-":,', "\x00", "😀", " OR ", " AND ", "NOT ", "tag:", "tier:", "refund"]),
    max_size=30,
).map("".join)

words = st.sampled_from(["refund", "late", "@acme", "#fail", "10:30", "x-ray", "café"])
leaves = st.one_of(
    words.map(Word),
    st.sampled_from(["never arrived", "my order", "AND"]).map(Phrase),
    st.sampled_from([("tier", "critical"), ("net", "x,mastodon"), ("brand", "acme corp")]).map(
        lambda kv: Field(kv[0], kv[1], quoted=" " in kv[1])
    ),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: All(tuple(parts))),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: AnyOf(tuple(parts))),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(typed)
def test_anything_typed_is_a_query_or_says_why_not(text):
    try:
        parse(text)
    except QueryError as exc:
        assert str(exc)
    try:
        InboxFilter.parse(text)
    except FilterError as exc:
        assert str(exc)


def flat(node):
    """The tree as the parser reads it: a group inside a group of its own kind is one group."""
    if isinstance(node, Not):
        return Not(flat(node.inner))
    if isinstance(node, All | AnyOf):
        parts = []
        for part in map(flat, node.parts):
            parts += part.parts if type(part) is type(node) else [part]
        return type(node)(tuple(parts))
    return node


@settings(max_examples=300, deadline=None)
@given(trees)
def test_a_query_written_out_reads_back_as_itself(tree):
    assert flat(parse(write(tree))) == flat(tree)
    parsed = InboxFilter.parse(write(tree))
    assert InboxFilter.parse(parsed.describe()) == parsed
