"""Reading Reddit's JSON: what is malformed says why; cursors order as Reddit numbers things."""

from __future__ import annotations

from typing import Any

import pytest

from listener.config import BrandSettings
from listener.reddit_normalise import (
    ErrorBody,
    Malformed,
    RedditBrands,
    cursor_of,
    identify,
    parse_page,
    position_of,
    to_mention,
)
from store.mentions import is_newer

BRANDS = RedditBrands([BrandSettings(name="acme", terms=["acme"], accounts={"reddit": ["AcmeSupport"]})])


def comment(**data: Any) -> dict[str, Any]:
    base = {
        "id": "k9z",
        "name": "t1_k9z",
        "author": "ana",
        "author_fullname": "t2_abc",
        "body": "acme help",
        "created_utc": 1715590502.0,
        "link_id": "t3_1abc",
        "parent_id": "t3_1abc",
    }
    base.update(data)
    return {"kind": "t1", "data": {k: v for k, v in base.items() if v is not ...}}


@pytest.mark.parametrize(
    ("child", "reason"),
    [
        ("just text", "listing child is a str, not an object"),
        ({"kind": "t3", "data": {"id": "abc"}}, "kind 't3' where t1 was expected"),
        ({"kind": "t1"}, "without a data object"),
        (comment(id="K9Z!"), "data.id 'K9Z!' is not a base36 id"),
        (comment(name="t1_other"), "data.name 't1_other' does not match"),
    ],
)
def test_unreadable_children_say_why(child, reason):
    with pytest.raises(Malformed, match=reason.replace("(", r"\(")):
        identify(child, "t1")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": None}, "data.body is missing, not text"),
        ({"created_utc": "yesterday"}, "data.created_utc 'yesterday' is not a number"),
        ({"link_id": "t1_xyz"}, "data.link_id 't1_xyz' is not a t3 fullname"),
        ({"parent_id": ...}, "data.parent_id None is not a t1 or t3 fullname"),
    ],
)
def test_missing_or_wrong_fields_say_which(change, reason):
    with pytest.raises(Malformed, match=reason):
        to_mention(identify(comment(**change), "t1"), BRANDS)


def test_pages_errors_and_garbage():
    page = parse_page({"kind": "Listing", "data": {"children": [comment()], "after": "t1_k9z"}})
    assert page.after == "t1_k9z" and len(page.children) == 1
    with pytest.raises(ErrorBody) as error:
        parse_page({"message": "Service Unavailable", "error": 503})
    assert error.value.status == 503
    with pytest.raises(Malformed, match="expected a Listing, got a list"):
        parse_page([1, 2])
    with pytest.raises(Malformed, match="without data.children"):
        parse_page({"kind": "Listing", "data": {}})


def test_deleted_authors_are_not_one_customer():
    first = to_mention(identify(comment(author="[deleted]", author_fullname=...), "t1"), BRANDS)
    second = to_mention(
        identify(comment(id="k9y", name=..., author="[deleted]", author_fullname=...), "t1"), BRANDS
    )
    assert first is not None and second is not None
    assert first.author.native_user_id != second.author.native_user_id


def test_cursors_order_as_reddit_ids():
    ids = ["zz", "100", "a", "k9z", "1abcdef"]
    ordered = sorted(ids, key=lambda native: int(native, 36))
    cursors = [cursor_of(int(native, 36)) for native in ordered]
    assert all(is_newer(later, earlier) for earlier, later in zip(cursors, cursors[1:], strict=False))
    assert cursors == sorted(cursors), "as text too"
    assert position_of(cursors[-1]) == int("1abcdef", 36) and position_of(None) is None
