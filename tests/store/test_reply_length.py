"""Each network's length rule, as the network counts. X's cases are twitter-text's own conformance suite
(conformance/validate.yml, WeightedTweetsWithDiscountedEmojiCounterTest and UnicodeDirectionalMarkerCounterTest,
v3 configuration): the weighted length twitter-text gives each text."""

from __future__ import annotations

import pytest

from store.reply_length import graphemes, mastodon_length, reply_length, x_urls, x_weighted_length

DASHES = "xxxxxxxxxx-"
POEM = (
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。旧时王谢堂前燕，"
    "飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。泪湿罗巾梦不成，夜深前殿按歌声。"
    "红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。遥知兄弟登高处，遍插茱萸少一人。"
)
KANA = "あいうえおかきくけこ"
LONG_LABEL = "https://" + "somesuperlongurl" * 249 + ".com/foo"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"

X_CONFORMANCE = [
    ("Regular Tweet with url", "Hi http://test.co", 26),
    ("Just url", "http://test.co", 23),
    ("Long tweet, overflow at char index 280", "285 chars-" + DASHES * 25, 285),
    (
        "Long tweet with url in the middle",
        "285 chars- http://www.twitter.com/jack " + DASHES * 24,
        299,
    ),
    ("Long tweet with url at the end", DASHES * 24 + " http://www.twitter.com/jack ", 289),
    ("10 url string, no overflow", "https://www.twitter.com/aloha " * 10, 240),
    ("160 CJK char", POEM, 320),
    ("160 emoji char", "😷" * 160, 320),
    ("3 latin char + 160 CJK char", "the" + POEM, 323),
    (
        "282 chars with a normalized character within valid range but outside 280",
        "282 chars-" + DASHES * 24 + "xxxxxA\u0301x",
        281,
    ),
    ("a mix of single word and double word characters", "H🐱☺" + FAMILY, 7),
    ("emoji inside the basic multilingual plane", "😷👾😡🔥💩", 10),
    ("emoji with skin tone modifiers", "🙋🏽👨\u200d🎤", 4),
    (
        "General Punctuation with visible spaces, no ZWJ/ZWNJ",
        "This is a tweet with general punctuation characters: "
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b "
        "‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷",
        110,
    ),
    (
        "long url with invalid domain labels and short url",
        "Long url with invalid domain labels and a short url: "
        + " ".join([LONG_LABEL] * 3)
        + " https://validurl.com",
        12079,
    ),
    ("a 64 character domain without protocol", "randomurl" * 7 + "s.com", 68),
    (
        "> 63 punycode characters in the host: no URL",
        KANA * 12 + " http://" + KANA * 5 + "あいう.com",
        358,
    ),
    ("< 63 punycode characters in the host: a URL", KANA * 12 + " http://" + KANA * 5 + "あい.com", 264),
    ("140 family emoji", FAMILY * 140, 280),
    ("Emoji with a leading character in the latin range is counted as 2", "1\u20e3", 2),
    (
        "Unicode 10.0 emoji",
        "Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        34,
    ),
    ("Unicode 9.0 emoji", "Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29),
    ("invalid characters", "ABC\u202a\uffffABC\ufffe", 12),
    ("directional characters", "\u2066\u202ahttp://foobar.پاکستان/\u202c\u2069", 31),
]


@pytest.mark.parametrize(
    ("description", "text", "weighted"), X_CONFORMANCE, ids=[c[0] for c in X_CONFORMANCE]
)
def test_x_counts_as_twitter_text_v3_does(description, text, weighted):
    assert x_weighted_length(text) == weighted


@pytest.mark.parametrize(
    ("text", "is_url"),
    [
        ("http://example.com", True),
        ("https://example.com/path/to/resource?search=foo&lang=en", True),
        ("HTTPS://www.ExaMPLE.COM/index.html", True),
        ("http://user:PASSW0RD@example.com:8080/login.php", True),
        ("http://192.168.0.1/index.html?src=asdf", True),
        ("http://☃.net/", True),
        ("http://example.com/Русские_слова", True),
        ("https://user:pass[word]@www.example.com/", False),
        ("http://domain-dash_2314352345_dfasd.foo-cow_4352.com", False),
        ("http://www.-domain4352.com/", False),
        ("http://256.1.2.3/", False),
        ("example.com", True),
        ("www.example.com", True),
        ("t.co", True),
        ("foo.co.jp", True),
        ("example.com/path/to/resource?search=foo&lang=en", True),
    ],
)
def test_urls_are_what_twitter_text_calls_urls(text, is_url):
    """twitter-text's conformance: urls and urls_without_protocol (a whole text that is one URL or none)."""
    assert (x_urls(text) == [(0, len(text))]) is is_url


def test_the_limits_and_what_to_change():
    assert reply_length("x", "a" * 280).refused is None
    assert reply_length("x", "日" * 141).refused == "282 weighted characters; x takes at most 280"
    assert reply_length("x", "ok\ufeff").refused == "X refuses the character U+FEFF; remove it"
    # Mastodon: a URL is 23, a remote mention only its local part, the rest grapheme clusters.
    assert mastodon_length("@ann@example.social hi https://example.com/" + "a" * 200) == len("@ann hi ") + 23
    assert reply_length("mastodon", "é" * 500).refused is None
    # Bluesky: 300 grapheme clusters (a family emoji is one), and 3000 bytes.
    assert graphemes(FAMILY * 300) == 300 and reply_length("bluesky", FAMILY * 120).refused is None
    assert reply_length("bluesky", FAMILY * 300).refused == "7500 bytes; Bluesky takes at most 3000"
    assert reply_length("bluesky", "a" * 301).refused == "301 characters; bluesky takes at most 300"
    assert reply_length("reddit", "a" * 10_001).refused == "10001 characters; reddit takes at most 10000"
