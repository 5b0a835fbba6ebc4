"""How a Mastodon reply addresses people, the way Mastodon's own web client writes one.

A Mastodon reply notifies only the accounts its text mentions: the web client starts a reply with the author of
the status replied to, then every account that status mentions, minus the replying account itself, each once
(`statusToTextMentions` in app/javascript/mastodon/reducers/compose.js). Its visibility is the status's own
when that is narrower than the account's default (`privacyPreference`): a reply to a followers-only post stays
followers-only. Pure functions of the status JSON: the desk counts with them, the sender posts with them, so
here in the store beside the networks' length rules (the desk may not import a network's code)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Narrowest last.
VISIBILITIES = ("public", "unlisted", "private", "direct")
_LEADING_MENTION = re.compile(r"^(?:@[A-Za-z0-9_.]+(?:@[A-Za-z0-9.-]+)?[ \t]+)+")
_MENTION = re.compile(r"(?<![\w/@])@(?P<user>[A-Za-z0-9_.]+)(?:@(?P<domain>[A-Za-z0-9.-]+))?")


def _same(acct: str, handle: str, host: str | None) -> bool:
    """Whether `acct` (as a status names it) and `handle` are one account; a bare name is local to `host`."""
    acct, handle = acct.casefold().lstrip("@"), handle.casefold().lstrip("@")
    if "@" not in acct and host:
        acct = f"{acct}@{host.casefold()}"
    if "@" not in handle and host:
        handle = f"{handle}@{host.casefold()}"
    if "@" in acct and "@" in handle:
        return acct == handle
    return acct.split("@", 1)[0] == handle.split("@", 1)[0]


def reply_mentions(status: Mapping[str, Any], own: Iterable[str], *, host: str | None = None) -> list[str]:
    """The accts a reply to `status` starts with: its author, then the accounts it mentions, never `own`."""
    own = [handle for handle in own if handle]
    found: list[str] = []
    account = status.get("account")
    candidates = [account.get("acct") if isinstance(account, Mapping) else None]
    mentions = status.get("mentions")
    candidates += (
        [m.get("acct") for m in mentions if isinstance(m, Mapping)] if isinstance(mentions, list) else []
    )
    for acct in candidates:
        if not isinstance(acct, str) or not acct or any(_same(acct, me, host) for me in own):
            continue
        if not any(_same(acct, seen, host) for seen in found):
            found.append(acct)
    return found


def addressed(text: str, accts: Sequence[str], *, host: str | None = None) -> str:
    """`text` with a leading @mention of each of `accts` it does not mention yet (an `@name` the responder typed
    for a local name counts)."""
    named = [(m["user"], m["domain"]) for m in _MENTION.finditer(text)]

    def mentioned(acct: str) -> bool:
        user, _, domain = acct.partition("@")
        return any(
            u.casefold() == user.casefold() and (d is None or not domain or d.casefold() == domain.casefold())
            for u, d in named
        )

    missing = [acct for acct in accts if not mentioned(acct)]
    if not missing:
        return text
    return " ".join(f"@{acct}" for acct in missing) + " " + text.lstrip()


def reply_visibility(replied_to: Any, default: Any = "public") -> str:
    """The narrower of the replied-to status's visibility and the account's default."""
    known = [v for v in (replied_to, default) if v in VISIBILITIES]
    return max(known, key=VISIBILITIES.index) if known else "public"


def without_leading_mentions(text: str) -> str:
    """The text after the @mentions a reply starts with: what the responder wrote."""
    return _LEADING_MENTION.sub("", text.strip())
