"""What each kind of alert target needs besides the text: an id to deduplicate on, time to answer, and mention
text that stays text.

- Every delivery carries a stable id (`alert_id`), the same on every retry: in the `Idempotency-Key` and
  `X-Earful-Alert-Id` headers and, for a generic webhook (apprise's json://, form://, xml://), an `alert_id`
  field of the payload. A receiver that got a delivery whose answer was lost can tell the retry is a repeat.
- A target gets `CONNECT_SECONDS` to accept the connection and the whole send timeout to answer (apprise's own
  default read timeout is 4 s: a receiver slower than that got the alert, was counted as failed, and got it
  again). A `cto=`/`rto=` in the subscriber's URL still wins.
- Chat services read alert text as markup: `@everyone`, `<@id>`, `<#channel>`, `[text](url)` written by a
  stranger in a mention would ping a whole server or hide a link. Discord webhooks are posted by earful itself
  with `allowed_mentions: {"parse": []}` (Discord then pings nobody, whatever the text) and the text escaped;
  apprise's Discord plugin sends no such field. Mattermost gets its Markdown and mentions escaped; Slack gets
  `&`, `<` and `>` escaped (apprise does that itself from 2.3) and its broadcast mentions broken.
"""

from __future__ import annotations

import json
import mimetypes
import re
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import apprise
import requests

from store.clock import as_utc
from store.models import AlertEvent

if TYPE_CHECKING:
    from responders.subscribers import Subscriber

Kind = Literal["discord", "mattermost", "slack", "webhook", "other"]

CONNECT_SECONDS = 5.0
# Discord refuses content over 2,000 characters.
DISCORD_CHARS = 2000
_NAMESPACE = uuid.UUID("6f0f2a52-8f2e-4f59-9d2c-2b9a7d3c5e11")
_ZWSP = "\u200b"

_DISCORD_NATIVE = re.compile(
    r"^https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/(\d+)/([\w-]+)/?", re.I
)
# A Discord-compatible server's webhook (self-hosted, or a relay in front of Discord): same path, any host.
_DISCORD_COMPATIBLE = re.compile(r"^https?://[^/?#]+/api/(?:v\d+/)?webhooks/\d+/[\w-]+/?(?:[?#]|$)", re.I)
_DISCORD_SCHEME = re.compile(r"^discord://(?:[^@/]*@)?(\d+)/([\w-]+)/?", re.I)

_URL = re.compile(r"https?://[^\s<>()\[\]]+", re.I)
# Markdown that changes what a reader sees (emphasis, code, spoilers, quotes, headings, lists, links, mention
# and channel syntax). Escaped with a backslash, each shows as itself.
_DISCORD_MARKUP = re.compile(r"([\\*_~`|<>\[\]()])")
_MATTERMOST_MARKUP = re.compile(r"([\\*_~`|\[\]()])")
# Headings, lists and quotes start a line.
_LINE_MARKUP = re.compile(r"^(\s*)([#>+-])", re.M)
_AT_WORD = re.compile(r"@(?=\w)")
_SLACK_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone|all)\b)", re.I)


def alert_id(event: AlertEvent) -> str:
    """The delivery's stable id: the same on every attempt, different for every delivery (and database)."""
    created = as_utc(event.created_at).isoformat() if event.created_at is not None else ""
    key = f"{event.id}|{event.subscriber}|{event.firing_id}|{event.revision}|{event.kind}|{created}"
    return f"earful-{uuid.uuid5(_NAMESPACE, key)}"


def kind_of(url: str) -> Kind:
    scheme = url.partition("://")[0].casefold()
    if scheme == "discord" or _DISCORD_NATIVE.match(url) or _DISCORD_COMPATIBLE.match(url):
        return "discord"
    if scheme in ("mmost", "mmosts"):
        return "mattermost"
    if scheme == "slack" or url.casefold().startswith("https://hooks.slack.com/"):
        return "slack"
    if scheme in ("json", "jsons", "form", "forms", "xml", "xmls"):
        return "webhook"
    return "other"


def neutralise(kind: Kind, text: str) -> str:
    """`text` as the target shows it literally: no pings, no hidden links, no formatting by strangers."""
    if kind == "discord":
        return _LINE_MARKUP.sub(r"\1\\\2", _outside_urls(text, _discord_escape))
    if kind == "mattermost":

        def escape(part: str) -> str:
            part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            return _AT_WORD.sub("@" + _ZWSP, _MATTERMOST_MARKUP.sub(r"\\\1", part))

        return _LINE_MARKUP.sub(r"\1\\\2", _outside_urls(text, escape))
    if kind == "slack":
        if slack_needs_escaping():
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return _SLACK_BROADCAST.sub("@" + _ZWSP, text)
    return text


def _discord_escape(part: str) -> str:
    return _AT_WORD.sub("@" + _ZWSP, _DISCORD_MARKUP.sub(r"\\\1", part))


def slack_needs_escaping() -> bool:
    """Whether this apprise leaves `&`, `<` and `>` of plain text to us on Slack (before 2.3 it did)."""
    from apprise.plugins.base import NotifyBase
    from apprise.plugins.slack import NotifySlack

    return NotifySlack.dialect_convert is NotifyBase.dialect_convert


def _outside_urls(text: str, escape: Callable[[str], str]) -> str:
    """`escape` applied to all but the links (a link with a backslash in it no longer leads where it says)."""
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        parts += [escape(text[last : match.start()]), match.group(0)]
        last = match.end()
    parts.append(escape(text[last:]))
    return "".join(parts)


def give_time(plugin: Any, url: str, timeout: float) -> None:
    """A short wait to connect, the whole `timeout` to answer, unless the URL says otherwise."""
    options = parse_qs(urlsplit(url).query)
    if "cto" not in options and hasattr(plugin, "socket_connect_timeout"):
        plugin.socket_connect_timeout = min(CONNECT_SECONDS, timeout)
    if "rto" not in options and hasattr(plugin, "socket_read_timeout"):
        plugin.socket_read_timeout = timeout


def label(plugin: Any, delivery_id: str) -> None:
    """Put the delivery's id where a receiver can see it: headers, and a generic webhook's payload."""
    headers = getattr(plugin, "headers", None)
    if isinstance(headers, dict):
        headers.update(id_headers(delivery_id))
    extras = getattr(plugin, "payload_extras", None)
    if isinstance(extras, dict):
        extras["alert_id"] = delivery_id


def id_headers(delivery_id: str) -> dict[str, str]:
    return {"Idempotency-Key": delivery_id, "X-Earful-Alert-Id": delivery_id}


def discord_webhook(url: str) -> tuple[str, dict[str, str]]:
    """The https address to post to and its query (`wait`, and a forum thread if the URL names one)."""
    params = {"wait": "true"}
    query = parse_qs(urlsplit(url).query)
    threads = query.get("thread") or query.get("thread_id")
    if threads:
        params["thread_id"] = threads[0]
    scheme = _DISCORD_SCHEME.match(url)
    if scheme is not None:
        return f"https://discord.com/api/webhooks/{scheme.group(1)}/{scheme.group(2)}", params
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/"), params


def post_discord(
    url: str,
    title: str,
    body: str,
    *,
    delivery_id: str | None,
    timeout: float,
    attach: Sequence[str] | None = None,
) -> str | None:
    """Post one message to a Discord webhook; None on success, else why not (may hold the URL: scrub it)."""
    address, params = discord_webhook(url)
    content = f"{neutralise('discord', title)}\n{neutralise('discord', body)}".strip()
    if len(content) > DISCORD_CHARS:
        content = content[: DISCORD_CHARS - 1] + "…"
    payload: dict[str, Any] = {"content": content, "allowed_mentions": {"parse": []}}
    headers = {"User-Agent": "earful", **(id_headers(delivery_id) if delivery_id else {})}
    try:
        with ExitStack() as files:
            opened = [
                (
                    f"files[{n}]",
                    (Path(p).name, files.enter_context(Path(p).open("rb")), _mimetype(p)),
                )
                for n, p in enumerate(attach or ())
            ]
            response = requests.post(
                address,
                params=params,
                headers=headers,
                timeout=(min(CONNECT_SECONDS, timeout), timeout),
                **(
                    {"data": {"payload_json": json.dumps(payload)}, "files": opened}
                    if opened
                    else {"json": payload}
                ),
            )
    except requests.Timeout:
        return f"Discord did not answer within {timeout:g}s"
    except requests.RequestException as exc:
        return f"Discord could not be reached ({type(exc).__name__})"
    except OSError as exc:
        return f"attachment unreadable: {exc.strerror or exc}"
    if response.status_code in (200, 204):
        return None
    return f"Discord refused the message: {response.status_code} {_discord_reason(response)}".strip()


def _discord_reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if not isinstance(body, dict):
        return response.reason or ""
    if response.status_code == 429 and body.get("retry_after") is not None:
        return f"rate limited; retry after {body['retry_after']}s"
    return str(body.get("message") or response.reason or "")[:300]


def _mimetype(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def send(
    subscriber: Subscriber,
    title: str,
    body: str,
    *,
    timeout: float,
    attach: Sequence[str] | None = None,
    delivery_id: str | None = None,
) -> str | None:
    """Deliver one message; None on success, else why not (scrubbed of the URL's secrets).

    `timeout` is how long the target has to answer (it gets less to accept the connection): a slow receiver is
    waited for rather than counted as failed and sent the alert again. `delivery_id` goes with it (headers, a
    webhook's payload: responders.alert_targets) so a receiver can tell a retry from a new alert.
    """
    url = subscriber.url.get_secret_value()
    missing = [Path(p).name for p in attach or () if not Path(p).is_file()]
    if missing:
        return f"attachment missing: {', '.join(missing)}"
    kind = kind_of(url)
    if kind == "discord":
        error = post_discord(url, title, body, delivery_id=delivery_id, timeout=timeout, attach=attach)
        return scrub(error, url) if error is not None else None
    try:
        # Memory-only storage: apprise would otherwise keep per-service state files under the user's home.
        asset = apprise.AppriseAsset(storage_mode="memory")
        plugin = apprise.Apprise.instantiate(url, asset=asset)
        if plugin is None:
            return "the subscriber URL is not a valid apprise URL"
        give_time(plugin, url, timeout)
        if delivery_id is not None:
            label(plugin, delivery_id)
        notifier = apprise.Apprise(asset=asset)
        notifier.add(plugin)
        started = time.monotonic()
        result = notifier.notify(
            title=neutralise(kind, title),
            body=neutralise(kind, body),
            body_format=apprise.NotifyFormat.TEXT,
            attach=list(attach) if attach else None,
            # Only a backstop: the target's own connect and read timeouts end a slow send first, so apprise
            # never stops waiting on a request that may still get through.
            timeout=(CONNECT_SECONDS + timeout) * 3,
        )
    except Exception as exc:  # a plugin bug must not stop the other subscribers
        return scrub(f"{type(exc).__name__}: {exc}", url)
    if result:
        return None
    if time.monotonic() - started >= timeout:
        # apprise words a read timeout as a connection error; the receiver may well have the alert.
        return f"the subscriber did not answer within {timeout:g}s (a retry carries the same alert id)"
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return scrub("; ".join(messages) or f"apprise reported {result.status.name}", url)


def scrub(message: str, url: str) -> str:
    """`message` with the URL and each of its parts (tokens, user, password, host, option values) replaced by
    ***. Option names (`from`, `mode` ...) are apprise's own words, not secrets, and stay readable."""
    _scheme, _, rest = url.partition("://")
    address, _, query = rest.partition("?")
    parts = re.split(r"[/:@#]+", address)
    for option in query.split("&"):
        value = option.partition("=")[2]
        parts += [value, *re.split(r"[/:@,;]+", value)]
    pieces = {url, unquote(url), *parts, *(unquote(p) for p in parts)}
    for piece in sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True):
        message = message.replace(piece, "***")
    return message[:2000]
