"""Posting a reply on X as the brand's account, and finding one already posted (a retry never posts twice)."""

from __future__ import annotations

import html
import re
from typing import Any

import requests
import tweepy

from listener.config import XSettings
from listener.sending import SendError
from listener.transport import TimeoutSession, protect_logs, redirect
from store.errors import UserError

_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")
FIND_MAX_PAGES = 5


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _detail(exc: tweepy.HTTPException) -> tuple[int, str]:
    status = int(getattr(exc.response, "status_code", 0) or 0)
    messages = [str(message) for message in exc.api_messages]
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        messages += [
            str(body[key]) for key in ("detail", "title") if body.get(key) and str(body[key]) not in messages
        ]
    reason = getattr(exc.response, "reason", "") or ""
    return status, "; ".join(messages[:2]) or reason


def _same_text(posted: str, wanted: str) -> bool:
    """X escapes &, < and >, and may turn links into t.co ones; neither makes it a different reply."""

    def norm(text: str) -> str:
        return _SPACE.sub(" ", _URL.sub("<url>", html.unescape(text))).strip()

    return norm(posted) == norm(wanted)


class XSender:
    def __init__(self, settings: XSettings, *, timeout: float = 30.0) -> None:
        if not settings.has_user_auth():
            raise UserError(
                "replying on X needs x.consumer_key, x.consumer_secret, x.access_token "
                "and x.access_token_secret"
            )
        self.settings = settings
        protect_logs(
            *(
                _secret(value)
                for value in (
                    settings.bearer_token,
                    settings.consumer_key,
                    settings.consumer_secret,
                    settings.access_token,
                    settings.access_token_secret,
                )
            )
        )
        self._client = tweepy.Client(
            bearer_token=_secret(settings.bearer_token),
            consumer_key=_secret(settings.consumer_key),
            consumer_secret=_secret(settings.consumer_secret),
            access_token=_secret(settings.access_token),
            access_token_secret=_secret(settings.access_token_secret),
            return_type=dict,
        )
        # tweepy's REST calls pass no timeout; a reply stuck for ever would block the outbox behind it.
        self._client.session = TimeoutSession(timeout)
        redirect(self._client, settings.base_url)
        self._account: str | None = None
        self._account_known = False

    def account(self) -> str | None:
        """The username the access token posts as (asked of X once), or None if X would not say."""
        if not self._account_known:
            try:
                body = self._call("X account lookup failed", self._client.get_me, user_auth=True)
            except SendError as exc:
                # Unreachable: ask again next time. Refused (no such endpoint, no scope): never will say.
                self._account_known = not exc.retryable
                return None
            data = body.get("data") if isinstance(body, dict) else None
            username = data.get("username") if isinstance(data, dict) else None
            self._account = str(username) if username else None
            self._account_known = True
        return self._account

    def send_reply(self, text: str, in_reply_to_native_id: str) -> str:
        """Post `text` as a reply (OAuth 1.0a user context) and return the new tweet's id."""
        body = self._call(
            "X refused the reply",
            self._client.create_tweet,
            text=text,
            in_reply_to_tweet_id=in_reply_to_native_id,
        )
        try:
            return str(body["data"]["id"])
        except (KeyError, TypeError):
            raise SendError(
                "X accepted the reply but its answer holds no tweet id", retryable=False
            ) from None

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None:
        """The id of an earlier reply with this text to that tweet (by own_handle, if given), or None."""
        conversation = self._conversation_of(in_reply_to_native_id)
        query = f"conversation_id:{conversation}" + (f" from:{own_handle.lstrip('@')}" if own_handle else "")
        token: str | None = None
        for _ in range(FIND_MAX_PAGES):
            params: dict[str, Any] = {
                "max_results": 100,
                "tweet_fields": ["referenced_tweets", "conversation_id", "author_id"],
                "user_auth": self.settings.bearer_token is None,
            }
            if token:
                params["next_token"] = token
            page = self._call("X search failed", self._client.search_recent_tweets, query, **params)
            for tweet in page.get("data") or []:
                replied = {
                    ref.get("id")
                    for ref in tweet.get("referenced_tweets") or []
                    if ref.get("type") == "replied_to"
                }
                if str(in_reply_to_native_id) in replied and _same_text(str(tweet.get("text", "")), text):
                    return str(tweet["id"])
            token = (page.get("meta") or {}).get("next_token")
            if not token:
                return None
        return None

    def _conversation_of(self, tweet_id: str) -> str:
        body = self._call(
            "X tweet lookup failed",
            self._client.get_tweet,
            tweet_id,
            tweet_fields=["conversation_id"],
            user_auth=self.settings.bearer_token is None,
        )
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and data.get("conversation_id"):
            return str(data["conversation_id"])
        # Deleted or not visible: a reply to it would still carry it as its conversation if it was the root.
        return str(tweet_id)

    @staticmethod
    def _call(what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except tweepy.HTTPException as exc:
            status, detail = _detail(exc)
            retryable = status == 429 or status >= 500
            raise SendError(
                f"{what}: {status} {detail}".strip(),
                status=status,
                retryable=retryable,
                # X refuses the same text twice from one account: the earlier post may be this very reply.
                duplicate=status == 403 and "duplicate" in detail.casefold(),
            ) from None
        except requests.RequestException as exc:
            raise SendError(
                f"{what}: X could not be reached ({type(exc).__name__})", retryable=True
            ) from None
