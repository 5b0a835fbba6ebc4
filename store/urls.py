"""Showing a URL without its secrets: every URL in an error, a log line or a status goes through `safe_url`.

SQLAlchemy's `render_as_string(hide_password=True)` hides only the password between `:` and `@`; libpq and
psycopg also take one as a query parameter (`?password=...`), and NATS URLs carry `user:pass@` or a token.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

HIDDEN = "***"
# Query parameters that hold a credential, whatever the driver calls them (password, sslpassword, passfile is
# a path and harmless but hidden all the same; token, auth_token, secret, api_key, access_key...).
_SECRET_KEY = re.compile(r"pass|secret|token|key|auth|credential|pwd", re.IGNORECASE)


def _secrets(url: str) -> list[str]:
    """The credential values in `url`, as written and as decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    userinfo, _, _host = parts.netloc.rpartition("@")
    if userinfo:
        user, colon, password = userinfo.partition(":")
        # nats://TOKEN@host: a lone user part is a token there; a user name is no secret but costs nothing.
        found += [unquote(password)] if colon else [user] if parts.scheme in ("nats", "tls") else []
    found += [
        value for key, value in parse_qsl(parts.query, keep_blank_values=False) if _SECRET_KEY.search(key)
    ]
    found += [quote(value, safe="") for value in found]
    return sorted({value for value in found if value}, key=len, reverse=True)


def safe_url(url: str) -> str:
    """`url` with every password, token and secret query parameter replaced by ***; the rest as written."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact(url, url)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        if colon:
            authority = f"{user}:{HIDDEN}@{host}"
        elif scheme in ("nats", "tls"):
            authority = f"{HIDDEN}@{host}"
    path, question, query = tail.partition("?")
    query, hash_, fragment = query.partition("#")
    if question:
        query = "&".join(_hide_param(pair) for pair in query.split("&"))
    return f"{scheme}://{authority}{path}{question}{query}{hash_}{fragment}"


def _hide_param(pair: str) -> str:
    key, equals, _value = pair.partition("=")
    return f"{key}={HIDDEN}" if equals and _SECRET_KEY.search(unquote(key)) else pair


def redact(text: str, url: str) -> str:
    """`text` (a driver's error message, say) with any credential of `url` in it replaced by ***."""
    for secret in _secrets(url):
        text = text.replace(secret, HIDDEN)
        decoded = unquote(secret)
        if decoded != secret:
            text = text.replace(decoded, HIDDEN)
    return text
