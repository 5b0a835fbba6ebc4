"""Stream lines -> NewMention: storage-safe text, strict X shapes, brand routing."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests

from listener.config import BrandSettings
from listener.transport import X_API, RewriteAdapter, protect_logs, redirect
from listener.x_normalise import Brands, Malformed, parse_stream_line
from store.incoming import ScoredMention
from store.mentions import save_mentions

BRANDS = Brands.of(
    [
        BrandSettings(name="acme", accounts={"x": ["AcmeCo"]}),
        BrandSettings(name="globex", accounts={"x": ["@Globex"]}),
    ]
)


def line(
    text: str = "@AcmeCo hi", *, username: str = "jane", tags: list[str] | None = None, **data: Any
) -> bytes:
    tweet = {
        "id": "1790000000000000002",
        "text": text,
        "author_id": "42",
        "conversation_id": "1790000000000000001",
        "created_at": "2024-05-13T09:15:02.123Z",
        "lang": "en",
        "referenced_tweets": [{"type": "replied_to", "id": "1790000000000000001"}],
        **data,
    }
    users = [
        {"id": "42", "name": "Jane Doe", "username": username, "public_metrics": {"followers_count": 512}}
    ]
    rules = [{"id": str(i), "tag": tag} for i, tag in enumerate(tags or ["brand:acme"])]
    return json.dumps({"data": tweet, "includes": {"users": users}, "matching_rules": rules}).encode()


def parse(raw: bytes):
    return parse_stream_line(raw, BRANDS, max_bytes=100_000)


def test_a_full_line_becomes_a_mention():
    mention = parse(line()).mention
    assert mention is not None
    assert (mention.network, mention.native_id, mention.conversation_id) == (
        "x",
        "1790000000000000002",
        "1790000000000000001",
    )
    assert mention.reply_to_native_id == "1790000000000000001"
    assert mention.author.handle == "jane" and mention.author.followers == 512
    assert mention.created_at.isoformat() == "2024-05-13T09:15:02.123000+00:00"
    assert mention.language == "en" and mention.brand == "acme" and not mention.is_own
    assert mention.raw["includes"]["users"][0]["name"] == "Jane Doe"
    assert mention.source is None and mention.cursor is None, "the collector decides about the cursor"


def test_text_is_storage_safe_and_otherwise_literal():
    mention = parse(line("@AcmeCo [bold]no[/bold] \x00tea &amp; \ud83d cake &lt;3 \U0001f370")).mention
    assert mention is not None
    assert mention.text == "@AcmeCo [bold]no[/bold] tea &  cake <3 \U0001f370"
    assert "\x00" not in json.dumps(mention.raw) and "\\u0000" not in json.dumps(mention.raw)


def test_own_posts_and_brand_routing():
    own = parse(line("Happy to help!", username="acmeco", tags=["brand:globex", "brand:acme"])).mention
    assert own is not None and own.is_own and own.brand == "acme", "the brand that wrote it wins"
    other = parse(line("@Globex @AcmeCo both broken", tags=["brand:globex", "brand:acme"])).mention
    assert other is not None and other.brand == "globex" and not other.is_own
    assert parse(line(tags=["someone-else"])).ignored
    assert parse(line(tags=["brand:gone"])).ignored


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON list"),
        (b"{}", "neither data nor errors"),
        (line(created_at="2024-05-13T09:15:02Z"), "timestamp format"),
        (line(author_id="77"), "not in includes.users"),
        (line(id=None), "data.id"),
        (json.dumps({"data": {"id": "1"}, "matching_rules": [{"id": "1"}]}).encode(), "has no tag"),
        (json.dumps({"data": {"id": "1", "text": "x"}}).encode(), "without matching_rules"),
    ],
)
def test_malformed_lines_say_why(raw: bytes, reason: str):
    with pytest.raises(Malformed, match=reason):
        parse(raw)


def test_error_frames_are_not_mentions():
    parsed = parse(b'{"errors":[{"title":"operational-disconnect"}]}')
    assert parsed.mention is None and parsed.errors[0]["title"] == "operational-disconnect"


def test_redirect_rewrites_only_when_the_base_url_is_not_xs():
    real = requests.Session()
    holder = type("Client", (), {"session": real})()
    redirect(holder, X_API)
    assert not isinstance(real.get_adapter(f"{X_API}/2/tweets"), RewriteAdapter)

    sandboxed = type("Client", (), {"session": requests.Session()})()
    redirect(sandboxed, "http://127.0.0.1:8080/")
    adapter = sandboxed.session.get_adapter(f"{X_API}/2/tweets/search/stream")
    assert isinstance(adapter, RewriteAdapter) and adapter.base_url == "http://127.0.0.1:8080"
    assert not isinstance(sandboxed.session.get_adapter("https://example.com/"), RewriteAdapter)


def test_client_libraries_debug_logs_never_show_credentials(caplog):
    protect_logs("consumer-key-123", None, "")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("tweepy.client").debug("Headers: {'Authorization': 'Bearer s3cr3t-t0ken'}")
        logging.getLogger("oauthlib.oauth1.rfc5849").debug(
            "Collected params: [('oauth_consumer_key', %r)] oauth_signature=\"c2lnbmF0dXJl\"",
            "consumer-key-123",
        )
    assert "s3cr3t-t0ken" not in caplog.text and "consumer-key-123" not in caplog.text
    assert "c2lnbmF0dXJl" not in caplog.text and caplog.text.count("[redacted]") == 3


def test_hostile_text_is_stored_on_both_back_ends(any_store):
    raw = line("@AcmeCo nul\x00 and a lone \udc80 surrogate", username="jane\x00doe")
    mention = parse(raw).mention
    assert mention is not None
    with any_store.write() as session:
        result = save_mentions([ScoredMention(mention=mention)], session=session)
    assert len(result.stored) == 1 and not result.rejected
    assert result.stored[0].text == "@AcmeCo nul and a lone  surrogate"
