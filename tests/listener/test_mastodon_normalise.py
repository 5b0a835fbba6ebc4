"""Mastodon statuses as mentions: HTML to faithful text, parsing, brands and threads (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from listener.config import BrandSettings
from listener.mastodon_normalise import (
    Audience,
    Conversations,
    Malformed,
    hashtags_in_terms,
    html_to_text,
    parse_status,
)
from listener.sandbox.mastodon_wire import render_content
from listener.sandbox.replay import Directory

MENTION = (
    '<span class="h-card" translate="no"><a href="https://sandbox.social/@Delta" class="u-url mention">'
    "@<span>Delta</span></a></span>"
)
LINK = (
    '<a href="https://example.com/a/very/long/path/to/the/booking?id=42" target="_blank" rel="nofollow noopener" '
    'translate="no"><span class="invisible">https://</span><span class="ellipsis">example.com/a/very/long/pat'
    '</span><span class="invisible">h/to/the/booking?id=42</span></a>'
)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello world</p>", "Hello world"),
        ("<p>first</p><p>second</p>", "first\n\nsecond"),
        ("<p>line one<br />line two<br>three</p>", "line one\nline two\nthree"),
        (f"<p>{MENTION} my bag is lost</p>", "@Delta my bag is lost"),
        (
            '<p>so late <a href="https://x.social/tags/delta" class="mention hashtag" rel="tag">'
            "#<span>delta</span></a></p>",
            "so late #delta",
        ),
        (f"<p>see {LINK}</p>", "see https://example.com/a/very/long/path/to/the/booking?id=42"),
        (
            "<p>fish &amp; chips &lt;3 &quot;ok&quot; &#39;fine&#39; caf&eacute;</p>",
            "fish & chips <3 \"ok\" 'fine' café",
        ),
        ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", "<script>alert(1)</script>"),
        ("<p>a</p>\n<p>b</p>", "a\n\nb"),
        ("<p>wrapped\nsource line</p>", "wrapped source line"),
        ("<ul><li>one</li><li>two</li></ul><p>after</p>", "one\ntwo\n\nafter"),
        ("<blockquote><p>quoted</p></blockquote><p>reply</p>", "quoted\n\nreply"),
        ("<pre>  keep\n  spacing</pre>", "keep\n  spacing"),
        ("<p>emoji 🙏🏼 and ünïcödé</p>", "emoji 🙏🏼 and ünïcödé"),
        ("plain text, no tags", "plain text, no tags"),
        ("<p>unknown <marquee>tags</marquee> keep <b>their</b> text</p>", "unknown tags keep their text"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_the_sandboxs_html_reads_back_as_what_was_typed() -> None:
    directory = Directory(("Delta",))
    directory.person("jane")
    typed = (
        "@Delta my bag & my <coat>\nare gone: https://example.com/claim/form?ref=abc123456789\n\nsecond #Lost"
    )
    html = render_content(typed, "https://sandbox.social", directory.get)
    assert "&amp;" in html and "&lt;coat&gt;" in html
    assert html_to_text(html) == typed


def status(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "112345678901234567",
        "created_at": "2024-05-13T09:15:02.000Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "content": "<p>hello</p>",
        "language": "en",
        "spoiler_text": "",
        "account": {
            "id": "109876",
            "acct": "jane@example.social",
            "display_name": "Jane",
            "followers_count": 512,
        },
        "mentions": [],
    }
    base.update(overrides)
    return base


def test_parse_status_reads_what_the_desk_needs() -> None:
    parsed = parse_status(
        status(
            in_reply_to_id="111",
            in_reply_to_account_id="7",
            mentions=[{"id": "7", "acct": "Delta", "username": "Delta"}],
            spoiler_text="travel rant",
        )
    )
    assert parsed is not None
    assert parsed.native_id == "112345678901234567"
    assert parsed.created_at == datetime(2024, 5, 13, 9, 15, 2, tzinfo=UTC)
    assert parsed.author.handle == "jane@example.social" and parsed.author.followers == 512
    assert parsed.reply_to == "111" and parsed.reply_to_acct == "Delta"
    assert parsed.text == "travel rant\n\nhello", "a content warning is part of what was said"
    assert parse_status(status(reblog=status())) is None, "a boost is not a new mention"


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"id": None}, "id"),
        ({"account": None}, "account is missing"),
        ({"account": {"id": "1"}}, "account.acct"),
        ({"content": None}, "content is missing"),
        ({"created_at": "yesterday"}, "not an ISO 8601"),
        ({"created_at": 1715591702}, "not an ISO 8601"),
    ],
)
def test_parse_status_names_what_is_wrong(broken: dict[str, object], reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_status(status(**broken))
    with pytest.raises(Malformed, match="JSON object"):
        parse_status(["not", "a", "status"])


def test_hashtags_in_terms_skip_negated_ones() -> None:
    terms = ["#Acme AND NOT #job", '"my order" OR #acme_help', "acme -#ad", "plain"]
    assert hashtags_in_terms(terms) == ["acme", "acme_help"]


def test_audience_knows_the_brands_own_accounts_and_skips_other_networks() -> None:
    brands = [
        BrandSettings(name="delta", terms=["#delta"], accounts={"mastodon": ["Delta", "@help@delta.social"]}),
        BrandSettings(name="xonly", terms=["hello"], networks=["x"]),
    ]
    audience = Audience(brands, "https://sandbox.social")
    assert audience.owner("Delta") == "delta"
    assert audience.owner("delta@sandbox.social") == "delta"
    assert audience.owner("help@delta.social") == "delta"
    assert audience.owner("Delta@elsewhere.social") is None, "same name, another server: another person"
    parsed = parse_status(status(content="<p>hello #delta</p>"))
    assert parsed is not None
    assert audience.brand_for(parsed, parsed.native_id) == ("delta", False)
    plain = parse_status(status(content="<p>hello</p>"))
    assert plain is not None and audience.brand_for(plain, plain.native_id) == (None, False)


def test_conversations_use_what_was_seen_before_asking() -> None:
    conversations = Conversations()
    asked: list[str] = []

    def ancestors(status_id: str) -> list[dict[str, object]]:
        asked.append(status_id)
        return [{"id": "1"}, {"id": "2"}]

    root = parse_status(status(id="1"))
    reply = parse_status(status(id="3", in_reply_to_id="2"))
    later = parse_status(status(id="4", in_reply_to_id="3"))
    assert root and reply and later
    assert conversations.root_of(reply, ancestors) == "1" and asked == ["3"]
    assert conversations.root_of(later, ancestors) == "1" and asked == ["3"], "known: no second lookup"
    orphan = parse_status(status(id="9", in_reply_to_id="8"))
    assert orphan and conversations.root_of(orphan, lambda _id: []) == "8", (
        "an unseen parent starts the thread"
    )
