"""The one place that points tweepy at a configured base URL instead of https://api.twitter.com.

tweepy hard-codes the host (client.py and streaming.py), but its sync clients keep a `requests.Session` in
`.session`; an adapter mounted there for the real host rewrites each request to the configured base URL before
it is sent. Stream, rules, search, lookup and create_tweet all go through it. With the real base URL nothing
is mounted, so production traffic takes requests' own path untouched."""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

X_API = "https://api.twitter.com"

_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+")
_OAUTH_SIGNATURE = re.compile(r"(oauth_signature(?:=\"|%3D|=))[^\"&\s,']+")


class RewriteAdapter(HTTPAdapter):
    """Sends a request for `prefix...` to `base_url...` instead."""

    def __init__(self, base_url: str, prefix: str = X_API, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if url.startswith(self.prefix):
            request.url = self.base_url + url[len(self.prefix) :]
            # The session chose proxies for api.twitter.com; the real destination decides (a loopback sandbox
            # must never be sent through a corporate proxy).
            kwargs["proxies"] = _proxies_for(request.url)
        return super().send(request, *args, **kwargs)


class TimeoutSession(requests.Session):
    """A session whose requests time out unless the caller says otherwise."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def _proxies_for(url: str) -> dict[str, str]:
    host = urlsplit(url).hostname or ""
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return {}
    except ValueError:
        pass
    return dict(get_environ_proxies(url))


def is_real(base_url: str) -> bool:
    return base_url.rstrip("/") == X_API


def redirect(client: Any, base_url: str) -> Any:
    """Point a tweepy `Client` or `StreamingClient` (anything with a requests `.session`) at base_url."""
    protect_logs()
    if not is_real(base_url):
        client.session.mount(X_API, RewriteAdapter(base_url))
    return client


class _RedactSecrets(logging.Filter):
    """tweepy logs request headers (the bearer token), oauthlib the consumer key, access token and signature,
    all at DEBUG. Credentials must never reach a log, whatever level someone turns on."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _OAUTH_SIGNATURE.sub(r"\1[redacted]", _BEARER.sub(r"\1[redacted]", message))
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactSecrets()
# Filters apply to the logger a record is created on, not its parents: name each module that logs credentials.
_CREDENTIAL_LOGGERS = (
    "tweepy.client",
    "tweepy.streaming",
    "tweepy.asynchronous.client",
    "requests_oauthlib.oauth1_auth",
    "requests_oauthlib.oauth1_session",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
)


def protect_logs(*secrets: str | None) -> None:
    """Redact these values (and any bearer token or OAuth signature) from the HTTP client libraries' logs."""
    # Very short values would blank out ordinary words; real keys and tokens are 20+ characters.
    _FILTER.secrets.update(secret for secret in secrets if secret and len(secret) >= 6)
    for name in _CREDENTIAL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
