"""Posting a reply on Reddit as the brand's account (a script app), and finding one already posted (a retry
never posts twice). Native ids are fullnames: `t1_` answers a comment, `t3_` a submission.

The text is sent as written; Reddit renders comments as Markdown."""

from __future__ import annotations

import re
from typing import Any

import praw
import praw.exceptions
import prawcore

from listener.config import RedditSettings
from listener.reddit_client import CREDENTIALS_HINT, RedditClient
from listener.sending import SendError
from store.errors import UserError

_SPACE = re.compile(r"\s+")
_FULLNAME = re.compile(r"t[13]_[0-9a-z]{1,13}")
# Reddit's own account history pages: enough to find a reply posted minutes ago on a busy account.
FIND_MAX_ITEMS = 300
_RETRYABLE_API_ERRORS = {"RATELIMIT", "SERVER_ERROR"}


def _same_text(posted: str, wanted: str) -> bool:
    return _SPACE.sub(" ", posted).strip() == _SPACE.sub(" ", wanted).strip()


class RedditSender:
    def __init__(self, settings: RedditSettings) -> None:
        if not settings.username or settings.password is None:
            raise UserError(
                "replying on Reddit needs reddit.username and reddit.password (the brand's account) "
                "besides reddit.client_id and reddit.client_secret"
            )
        self.settings = settings
        self._client = RedditClient(settings)
        self._reddit = self._client.reddit

    def send_reply(self, text: str, in_reply_to_native_id: str) -> str:
        """Post `text` under the comment or submission and return the new comment's fullname."""
        target = self._target(in_reply_to_native_id)
        made = self._call("Reddit refused the reply", target.reply, text)
        if made is None:
            # Reddit created it but did not return it (a quarantined subreddit): find it rather than guess.
            found = self.find_reply(in_reply_to_native_id, text, None)
            if found is None:
                raise SendError(
                    "Reddit took the reply but returned no comment, and it is not in the account's history yet",
                    retryable=False,
                )
            return found
        return str(made.fullname)

    def account(self) -> str | None:
        """The account replies are posted as: a script app signs in as reddit.username."""
        return (self.settings.username or "").lstrip("@").removeprefix("u/") or None

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None:
        """The fullname of an earlier comment with this text under that item, by own_handle (default: the
        configured account), or None."""
        handle = (own_handle or self.settings.username or "").lstrip("@").removeprefix("u/")
        comments = self._reddit.redditor(handle).comments.new(limit=FIND_MAX_ITEMS)

        def scan() -> str | None:
            for comment in comments:
                if comment.parent_id == in_reply_to_native_id and _same_text(str(comment.body), text):
                    return str(comment.fullname)
            return None

        return self._call("Reddit history lookup failed", scan)

    def _target(self, fullname: str) -> Any:
        if not _FULLNAME.fullmatch(fullname):
            raise SendError(f"{fullname!r} is not a Reddit comment (t1_) or submission (t3_) id")
        kind, native = fullname.split("_", 1)
        return self._reddit.comment(native) if kind == "t1" else self._reddit.submission(native)

    @staticmethod
    def _call(what: str, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except praw.exceptions.RedditAPIException as exc:
            codes = {item.error_type for item in exc.items}
            detail = "; ".join(f"{item.error_type}: {item.message}" for item in exc.items)
            raise SendError(f"{what}: {detail}", retryable=bool(codes & _RETRYABLE_API_ERRORS)) from None
        except prawcore.OAuthException as exc:
            raise SendError(
                f"{what}: the credentials were refused ({exc.error}); {CREDENTIALS_HINT}"
            ) from None
        except prawcore.ResponseException as exc:
            status = exc.response.status_code
            reason = exc.response.reason or ""
            if status in (401, 403):
                reason = f"{reason}; the item may be locked or archived, or {CREDENTIALS_HINT}".lstrip("; ")
            raise SendError(
                f"{what}: {status} {reason}".strip(), status=status, retryable=status == 429 or status >= 500
            ) from None
        except prawcore.RequestException as exc:
            raise SendError(
                f"{what}: Reddit could not be reached ({type(exc.original_exception).__name__})",
                retryable=True,
            ) from None
        except praw.exceptions.PRAWException as exc:
            raise SendError(f"{what}: {exc}") from None
