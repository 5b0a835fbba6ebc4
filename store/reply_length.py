"""How long a reply is, counted the way each network counts it, so a reply the desk accepts is one the network
accepts. The composer's counter, `queue_reply`'s check and the sandbox networks all call these, so none of them
can disagree; here in the store, the lowest layer, beside the other facts about each network.

- X: twitter-text v3's weighted length (config/v3.json): after NFC, code points in 0x0000-0x10FF, 0x2000-0x200D,
  0x2010-0x201F and 0x2032-0x2037 weigh 1, any other 2; an emoji sequence (ZWJ, skin tone, keycap, flag, tag
  sequence) weighs 2 as a whole; every URL weighs 23. At most 280. The replied-to @handle X adds itself is not
  counted (X leaves reply mentions out of the length).
- Mastodon: grapheme clusters, each URL as 23 and `@user@domain` as `@user` (StatusLengthValidator). 500.
- Bluesky: 300 grapheme clusters (and 3000 UTF-8 bytes), the app.bsky.feed.post lexicon's limits.
- Reddit: 10,000 characters for a comment.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

LIMITS = {"x": 280, "mastodon": 500, "bluesky": 300, "reddit": 10_000}
BLUESKY_MAX_BYTES = 3000

# -- X (twitter-text v3) ------------------------------------------------------------------------------------------

_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
URL_WEIGHT = 23
# Code points X refuses in a Tweet outright (twitter-text's invalid characters).
X_INVALID = frozenset("\ufffe\ufeff\uffff")

# One emoji as twemoji parses it: a keycap, a flag, a subdivision flag (tag sequence), or pictographs joined by
# ZWJ, each with an optional variation selector or skin tone.
_PICTO = r"\p{Extended_Pictographic}(?:\ufe0f|\p{Emoji_Modifier})?"
EMOJI = regex.compile(
    r"[0-9#*]\ufe0f?\u20e3"
    r"|\p{Regional_Indicator}{2}"
    r"|\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"
    rf"|{_PICTO}(?:\u200d{_PICTO})*"
)

# A few gTLDs people write without http:// (X links those too); any two letters is a country's TLD, any
# non-ASCII TLD an internationalised one. With a protocol any alphabetic TLD counts.
_BARE_GTLDS = (
    "com net org info biz edu gov mil int io co app dev ai me tv ly gl shop store online site xyz help "
    "support news blog club live link page email travel cloud tech"
).split()
# A domain's characters: letters, digits and symbols (a snowman is one), never punctuation or a space.
_CHAR = r"(?:[^\W_]|\p{So})"
_LABEL = rf"(?:{_CHAR}(?:(?:{_CHAR}|-)*{_CHAR})?)"
_SUBDOMAIN = rf"(?:(?:{_CHAR}|_)(?:(?:{_CHAR}|[_-])*(?:{_CHAR}|_))?)"  # subdomains may hold an underscore
_USERINFO = r"(?:[a-z0-9\-._~!$&'()*+,;=:%]+@)?"
# What X lets a URL's path and query hold: no space, quote, angle bracket or invisible formatting character.
_PATH = r"(?:/[\w\p{M}!*';:=+,.$/%#\[\]\-\u2013~&|@()]*)?"
_QUERY = r"(?:\?[\w!?*'@();:&=+$/%#\[\]\-.,~|]*)?"
_PORT = r"(?::[0-9]{1,5})?"
_TRAILING = ".,:;!?'\")]}…"
URL_WITH_PROTOCOL = regex.compile(
    rf"(?<![\w@$#＃＠])(?P<url>https?://{_USERINFO}(?P<host>(?:{_SUBDOMAIN}\.)*{_LABEL}\.(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)"
    rf"|\[[0-9a-fA-F:]+\]|(?:[0-9]{{1,3}}\.){{3}}[0-9]{{1,3}}){_PORT}{_PATH}{_QUERY})",
    regex.IGNORECASE,
)
URL_WITHOUT_PROTOCOL = regex.compile(
    rf"(?<![\w@$#＃＠./-])(?P<url>(?P<host>(?:{_SUBDOMAIN}\.)*{_LABEL}\.(?P<tld>xn--[a-z0-9-]+|[^\W\d_]{{2,}}))"
    rf"(?![\w-]){_PORT}(?P<path>{_PATH}){_QUERY})",
    regex.IGNORECASE,
)


def _valid_host(host: str) -> bool:
    """Each label of the host at most 63 characters once IDNA-encoded (longer is no domain, so no link)."""
    if host.startswith("[") or host.replace(".", "").isdigit():
        return all(0 <= int(part) <= 255 for part in host.split(".")) if host[0] != "[" else True
    for label in host.split("."):
        if not label:
            return False
        encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        if len(encoded) > 63:
            return False
    return True


def _trim(url: str) -> str:
    """A URL does not end in punctuation that ends the sentence around it."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def x_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) of each URL X would shorten to a t.co link, in order."""
    spans: list[tuple[int, int]] = []
    for match in URL_WITH_PROTOCOL.finditer(text):
        host = match["host"].split(":")[0]
        if _valid_host(host):
            spans.append((match.start("url"), match.start("url") + len(_trim(match["url"]))))
    taken = list(spans)
    for match in URL_WITHOUT_PROTOCOL.finditer(text):
        start = match.start("url")
        if any(s <= start < e for s, e in taken):
            continue
        tld = match["tld"].casefold()
        host = match["host"]
        if tld.isascii() and len(tld) > 2 and tld not in _BARE_GTLDS and not tld.startswith("xn--"):
            continue
        if not _valid_host(host) or not host.isascii():
            continue
        # A bare "name.cc" with no path is not a link (X's short-domain rule), except .co and .tv.
        if len(tld) == 2 and host.count(".") == 1 and not match["path"] and tld not in ("co", "tv"):
            continue
        spans.append((start, start + len(_trim(match["url"]))))
    return sorted(spans)


def _weight(char: str) -> int:
    point = ord(char)
    return 100 if any(low <= point <= high for low, high in _LIGHT) else 200


def x_weighted_length(text: str) -> int:
    """twitter-text v3 `parseTweet(text).weightedLength`."""
    text = unicodedata.normalize("NFC", text)
    urls = dict(x_urls(text))
    emoji = {m.start(): m.end() for m in EMOJI.finditer(text)}
    total, i = 0, 0
    while i < len(text):
        if i in urls:
            total += URL_WEIGHT * 100
            i = urls[i]
        elif i in emoji:
            total += 200
            i = emoji[i]
        else:
            total += _weight(text[i])
            i += 1
    return total // 100


# -- Mastodon, Bluesky ---------------------------------------------------------------------------------------------

_MASTODON_URL = regex.compile(r"(?<![\w/])https?://[^\s<>\"]+")
_MASTODON_MENTION = regex.compile(
    r"(?<![\w/@])@(?P<user>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)@[A-Za-z0-9.-]+\.[A-Za-z]+"
)


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def mastodon_length(text: str) -> int:
    """What Mastodon's StatusLengthValidator counts: URLs as 23, remote mentions by their local part."""
    text = _MASTODON_URL.sub(lambda m: "x" * URL_WEIGHT, text)
    text = _MASTODON_MENTION.sub(lambda m: "@" + m["user"], text)
    return graphemes(text)


# -- one face ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Length:
    network: str
    used: int
    limit: int | None
    # Why the network would refuse it besides its length (X's invalid characters, Bluesky's byte limit).
    trouble: str | None = None

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used > self.limit

    @property
    def refused(self) -> str | None:
        """What to change for the network to take it, or None."""
        if self.over:
            unit = {"x": "weighted characters", "mastodon": "characters", "bluesky": "characters"}.get(
                self.network, "characters"
            )
            return f"{self.used} {unit}; {self.network} takes at most {self.limit}"
        return self.trouble


def reply_length(network: str, text: str) -> Length:
    """`text`'s length as `network` counts it, against its limit (None for a network without one)."""
    text = text.strip()
    limit = LIMITS.get(network)
    if network == "x":
        bad = sorted({f"U+{ord(c):04X}" for c in text if c in X_INVALID})
        trouble = f"X refuses the character {', '.join(bad)}; remove it" if bad else None
        return Length(network, x_weighted_length(text), limit, trouble)
    if network == "mastodon":
        return Length(network, mastodon_length(text), limit)
    if network == "bluesky":
        size = len(text.encode("utf-8"))
        trouble = (
            f"{size} bytes; Bluesky takes at most {BLUESKY_MAX_BYTES}" if size > BLUESKY_MAX_BYTES else None
        )
        return Length(network, graphemes(text), limit, trouble)
    return Length(network, len(text), limit)
