"""Posting a reply on Bluesky as the brand's account, and finding one already posted (a retry never posts twice).

A Bluesky reply names both the post it answers (parent) and the top of its thread (root); the parent is looked
up first (`getPostThread`) so the root stays the thread's real root however deep the conversation is."""

from __future__ import annotations

import threading
from typing import Any

from atproto import Client, models
from atproto_client import exceptions
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from listener.config import BlueskySettings
from listener.sending import SendError
from store.errors import UserError


def _same_text(posted: str, wanted: str) -> bool:
    return " ".join(posted.split()) == " ".join(wanted.split())


def _strong_ref(value: Any) -> models.ComAtprotoRepoStrongRef.Main | None:
    uri, cid = getattr(value, "uri", None), getattr(value, "cid", None)
    if isinstance(value, dict):
        uri, cid = value.get("uri"), value.get("cid")
    if isinstance(uri, str) and isinstance(cid, str):
        return models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)
    return None


class BlueskySender:
    def __init__(self, settings: BlueskySettings, *, timeout: float = 30.0) -> None:
        password = settings.app_password.get_secret_value() if settings.app_password is not None else ""
        if not settings.handle or not password:
            raise UserError(
                "replying on Bluesky needs bluesky.handle and bluesky.app_password "
                "(create an app password in Bluesky's Settings > Privacy and security > App passwords)"
            )
        self.settings = settings
        self._password = password
        self._timeout = timeout
        self._client: Client | None = None
        self._lock = threading.Lock()

    def send_reply(self, text: str, in_reply_to_native_id: str) -> str:
        """Post `text` as a reply to the post at this at:// URI; return the new post's URI."""
        with self._lock:
            client = self._login()
            target = self._post(client, in_reply_to_native_id, depth=0)
            post = target.post
            parent = models.create_strong_ref(post)
            reply = getattr(post.record, "reply", None)
            root = _strong_ref(getattr(reply, "root", None) if reply is not None else None) or parent
            facets = self._call("Bluesky could not resolve the mentions", client.detect_facets, text)
            created = self._call(
                "Bluesky refused the reply",
                client.send_post,
                text,
                reply_to=models.AppBskyFeedPost.ReplyRef(parent=parent, root=root),
                facets=facets or None,
            )
            return str(created.uri)

    def account(self) -> str | None:
        """The handle the login posts as (its session's, which may differ from the identifier it signed in
        with, an e-mail say), or None if Bluesky cannot be asked now."""
        with self._lock:
            try:
                client = self._login()
            except SendError:
                return None
            me = client.me
            return (
                str(me.handle) if me is not None and me.handle else (self.settings.handle or "").lstrip("@")
            )

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None:
        """The URI of an earlier reply with this text to that post (by own_handle, a handle or did, if given),
        or None."""
        with self._lock:
            client = self._login()
            target = self._post(client, in_reply_to_native_id, depth=1)
            handle = (own_handle or "").lstrip("@").casefold()
            for child in target.replies or []:
                if not isinstance(child, models.AppBskyFeedDefs.ThreadViewPost):
                    continue
                post = child.post
                if handle and handle not in (post.author.handle.casefold(), post.author.did.casefold()):
                    continue
                if _same_text(str(getattr(post.record, "text", "")), text):
                    return str(post.uri)
            return None

    def _post(self, client: Client, uri: str, *, depth: int) -> models.AppBskyFeedDefs.ThreadViewPost:
        answer = self._call(
            f"Bluesky could not look up the post {uri}",
            client.get_post_thread,
            uri,
            depth=depth,
            parent_height=0,
        )
        thread = answer.thread
        if not isinstance(thread, models.AppBskyFeedDefs.ThreadViewPost):
            raise SendError(f"the post {uri} was deleted or is not visible to {self.settings.handle}")
        return thread

    def _login(self) -> Client:
        if self._client is None:
            client = Client(base_url=self.settings.base_url, request=Request(timeout=self._timeout))
            self._call(
                f"Bluesky refused the login of {self.settings.handle} (check bluesky.handle and bluesky.app_password)",
                client.login,
                self.settings.handle,
                self._password,
            )
            self._client = client
        return self._client

    @staticmethod
    def _call(what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except exceptions.RequestErrorBase as exc:
            response = exc.response
            if response is None:
                raise SendError(
                    f"{what}: Bluesky could not be reached ({type(exc).__name__})", retryable=True
                ) from None
            status = response.status_code
            content = response.content
            detail = (
                f"{content.error}: {content.message}"
                if hasattr(content, "error") and hasattr(content, "message")
                else ""
            )
            raise SendError(
                f"{what}: {status} {detail}".strip(), status=status, retryable=status == 429 or status >= 500
            ) from None
        except AtProtocolError as exc:
            raise SendError(f"{what}: {type(exc).__name__}: {exc}"[:300]) from None
