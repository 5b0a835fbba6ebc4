"""Posting a reply on Mastodon as the brand's account, and finding one already posted.

A reply starts with the @mentions Mastodon's web client writes (store/reply_address.py): the customer is
notified only when named. It has the visibility of the status it answers when that is narrower than public.

A retried send posts once twice over: the `Idempotency-Key` is derived from (status replied to, text), so
Mastodon answers a repeat within its hour of memory with the status it already created; after that,
`find_reply` looks among the status's replies (`/context` descendants) before the outbox posts again."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, TypeVar

from mastodon import Mastodon, MastodonAPIError, MastodonError, MastodonNetworkError, MastodonRatelimitError

from listener.config import MastodonSettings
from listener.mastodon_normalise import html_to_text
from listener.mastodon_stream import RecordingSession
from listener.sending import SendError
from store.errors import UserError
from store.reply_address import addressed, reply_mentions, reply_visibility, without_leading_mentions

__all__ = ["MastodonSender", "SendError", "idempotency_key"]

T = TypeVar("T")
_SPACE = re.compile(r"\s+")


def idempotency_key(in_reply_to_native_id: str, text: str) -> str:
    digest = hashlib.sha256(f"{in_reply_to_native_id}\n{text.strip()}".encode()).hexdigest()
    return f"earful-{digest[:40]}"


def _same_text(posted_html: str, wanted: str) -> bool:
    # Mastodon shows a remote mention as @name only; a reply is the same whichever @mentions lead it.
    def norm(text: str) -> str:
        return _SPACE.sub(" ", without_leading_mentions(text)).strip()

    return norm(html_to_text(posted_html)) == norm(wanted)


def _same_account(acct: str, handle: str) -> bool:
    acct, handle = acct.casefold(), handle.casefold().lstrip("@")
    if "@" in acct and "@" in handle:
        return acct == handle
    return acct.split("@", 1)[0] == handle.split("@", 1)[0]


class MastodonSender:
    """The `responders.outbox.Sender` for Mastodon."""

    def __init__(self, settings: MastodonSettings, *, timeout: float = 30.0) -> None:
        if settings.access_token is None or not settings.access_token.get_secret_value():
            raise UserError(
                "replying on Mastodon needs mastodon.access_token (a token of the brand's account with the "
                "write:statuses scope)"
            )
        self.settings = settings
        self._http = RecordingSession()
        self.api = Mastodon(
            access_token=settings.access_token.get_secret_value(),
            api_base_url=settings.base_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            session=self._http,
            user_agent="earful (social listening desk)",
        )
        self._account: str | None = None
        self._privacy: str | None = None

    def account(self) -> str | None:
        """The account the token posts as (`acct`, asked of the server once), or None if it cannot say now."""
        if self._account is None:
            try:
                self._call("Mastodon could not say whose token this is", self.api.account_verify_credentials)
            except SendError:
                return None
            body = self._body()
            acct = body.get("acct") if isinstance(body, dict) else None
            self._account = str(acct) if acct else None
            source = body.get("source") if isinstance(body, dict) else None
            self._privacy = source.get("privacy") if isinstance(source, dict) else None
        return self._account

    def send_reply(self, text: str, in_reply_to_native_id: str) -> str:
        """Post `text` as a reply, addressed to the people of the status it answers, and return the new status's
        id. The same reply twice posts once."""
        self._call("Mastodon could not show the status to answer", self.api.status, in_reply_to_native_id)
        replied_to = self._body()
        replied_to = replied_to if isinstance(replied_to, dict) else {}
        own = self.account()
        accts = reply_mentions(replied_to, [own] if own else [])
        self._call(
            "Mastodon refused the reply",
            self.api.status_post,
            addressed(text, accts),
            in_reply_to_id=in_reply_to_native_id,
            visibility=reply_visibility(replied_to.get("visibility"), self._privacy or "public"),
            idempotency_key=idempotency_key(in_reply_to_native_id, text),
        )
        body = self._body()
        if not isinstance(body, dict) or not body.get("id"):
            raise SendError("Mastodon accepted the reply but its answer holds no status id", retryable=False)
        return str(body["id"])

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None:
        """The id of an earlier reply with this text to that status (by own_handle, if given), or None."""
        self._call("Mastodon could not show the conversation", self.api.status_context, in_reply_to_native_id)
        body = self._body()
        for status in body.get("descendants") or [] if isinstance(body, dict) else []:
            if not isinstance(status, dict) or str(status.get("in_reply_to_id")) != str(
                in_reply_to_native_id
            ):
                continue
            acct = str((status.get("account") or {}).get("acct") or "")
            if own_handle and not _same_account(acct, own_handle):
                continue
            if _same_text(str(status.get("content") or ""), text):
                return str(status["id"])
        return None

    def _body(self) -> Any:
        # Mastodon.py turns ids into ints; the answer as Mastodon sent it keeps them as it wrote them.
        last = self._http.last()
        try:
            return last.json() if last is not None else None
        except ValueError:
            return None

    def _call(self, what: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except MastodonRatelimitError:
            raise SendError(
                f"{what}: rate limited (429); it will be retried", status=429, retryable=True
            ) from None
        except MastodonNetworkError as exc:
            reason = type(exc.__context__).__name__ if exc.__context__ else "no connection"
            raise SendError(f"{what}: Mastodon could not be reached ({reason})", retryable=True) from None
        except MastodonAPIError as exc:
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            detail = (
                exc.args[3]
                if len(exc.args) > 3 and exc.args[3]
                else (exc.args[2] if len(exc.args) > 2 else "")
            )
            hint = " (check mastodon.access_token and its write scope)" if status in (401, 403) else ""
            raise SendError(
                f"{what}: {status or ''} {detail}{hint}".replace("  ", " ").strip(),
                status=status,
                retryable=status is None or status == 429 or status >= 500,
            ) from None
        except MastodonError as exc:
            raise SendError(f"{what}: {str(exc)[:200]}", retryable=False) from None
