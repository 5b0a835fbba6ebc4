"""Bluesky's XRPC API through atproto's `Client`, as a source needs it: one login kept across sessions (Bluesky
allows 30 logins per 5 minutes), the `ratelimit-*` budget respected before a 429, failures as `SourceError`s,
and a shared cache of profiles (did -> handle, display name, followers)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from atproto import Client, models
from atproto_client import exceptions
from atproto_client.request import Request, Response
from atproto_core.exceptions import AtProtocolError

from listener.bluesky_normalise import Brands, Profile
from listener.config import BlueskySettings
from listener.health import SourceState
from listener.parsing import Malformed, loads
from listener.source import (
    ConnectionLost,
    Fatal,
    RateLimited,
    Refused,
    SourceContext,
    SourceError,
    budget_wait,
)

log = logging.getLogger(__name__)

REST_TIMEOUT = 30.0
PROFILE_CACHE = 20_000


def _status(exc: exceptions.RequestErrorBase) -> int:
    return exc.response.status_code if exc.response is not None else 0


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def as_source_error(exc: AtProtocolError, what: str, *, now: float) -> SourceError:
    """The failure of one XRPC call, as the supervisor's backoff understands it."""
    if isinstance(exc, exceptions.RateLimitExceededError):
        reset = exc.reset_at.timestamp() if exc.reset_at else None
        if reset is None and exc.retry_after is not None:
            reset = now + exc.retry_after
        return RateLimited(f"{what}: Bluesky rate limit reached (429)", until=reset)
    if isinstance(exc, exceptions.UnauthorizedError):
        return Fatal(
            f"{what}: Bluesky refused the credentials ({_reason(exc)}); check bluesky.handle and "
            "bluesky.app_password (an app password from Settings > App passwords)"
        )
    if isinstance(exc, exceptions.BadRequestError):
        detail = _reason(exc)
        if "ExpiredToken" in detail or "InvalidToken" in detail:
            return ConnectionLost(f"{what}: the session expired ({detail}); logging in again")
        return Fatal(f"{what}: Bluesky refused the request ({detail})")
    if isinstance(exc, exceptions.NetworkError):
        if exc.response is not None:
            return Refused(_status(exc), f"{what}: {_reason(exc)}")
        return ConnectionLost(f"{what}: Bluesky could not be reached ({_reason(exc.__cause__ or exc)})")
    if isinstance(exc, exceptions.RequestErrorBase) and exc.response is not None:
        return Refused(_status(exc), f"{what}: {_reason(exc)}")
    return ConnectionLost(f"{what}: {type(exc).__name__}: {_reason(exc)}")


class Unreadable(Malformed):
    """An XRPC answer that is not JSON earful can read; `raw` is its body, to be kept aside."""

    def __init__(self, reason: str, raw: bytes) -> None:
        super().__init__(reason)
        self.raw = raw


class _Request(Request):
    """atproto's Request, reading answers with earful's JSON reader: atproto's own (pydantic's `from_json`)
    raises a bare ValueError for a post nested 200 levels deep, which would end the session that asked, and
    the next one, and every one after it. (`_send_request` is atproto 0.0.73's, as `get` and `post` use it.)"""

    def get(self, *args: Any, **kwargs: Any) -> Response:
        return _read(self._send_request("GET", *args, **kwargs))

    def post(self, *args: Any, **kwargs: Any) -> Response:
        return _read(self._send_request("POST", *args, **kwargs))


def _read(response: httpx.Response) -> Response:
    content: Any = response.content
    if "application/json" in response.headers.get("content-type", "").lower():
        try:
            content = loads(response.content, "Bluesky's answer")
        except Malformed as exc:
            raise Unreadable(exc.reason, response.content) from None
    return Response(
        success=True,
        status_code=response.status_code,
        content=content,
        headers={key.lower(): value for key, value in response.headers.items()},
    )


class Api:
    """One source's XRPC client. Not thread-safe: each source thread has its own."""

    def __init__(
        self, settings: BlueskySettings, *, profiles: Profiles, timeout: float = REST_TIMEOUT
    ) -> None:
        self.settings = settings
        self.profiles = profiles
        self.timeout = timeout
        self._client: Client | None = None

    def reset(self) -> None:
        self._client = None

    def client(self, ctx: SourceContext) -> Client:
        if self._client is not None:
            return self._client
        client = Client(base_url=self.settings.base_url, request=_Request(timeout=self.timeout))
        handle, password = self.settings.handle, self.settings.app_password
        if handle and password is not None and password.get_secret_value():
            try:
                client.login(handle, password.get_secret_value(), fetch_bsky_profile=False)
            except AtProtocolError as exc:
                raise as_source_error(exc, "login", now=ctx.now()) from None
        self._client = client
        return client

    def query(self, ctx: SourceContext, nsid: str, params: Any, what: str) -> dict[str, Any]:
        client = self.client(ctx)
        try:
            response = client.invoke_query(nsid, params=params)
        except AtProtocolError as exc:
            error = as_source_error(exc, what, now=ctx.now())
            if isinstance(error, ConnectionLost) and "expired" in error.reason:
                self.reset()
            raise error from None
        ctx.alive()
        headers: Mapping[str, str] = response.headers
        # The supervisor's watchdog leaves a deliberate wait alone: no need to keep it company.
        budget_wait(ctx, headers, remaining="ratelimit-remaining", reset="ratelimit-reset")
        if not isinstance(response.content, dict):
            raise ConnectionLost(f"{what}: Bluesky answered {response.status_code} without a JSON object")
        return response.content

    def profile(self, ctx: SourceContext, actor: str) -> Profile:
        known = self.profiles.get(actor)
        if known is not None:
            return known
        params = models.AppBskyActorGetProfile.Params(actor=actor)
        try:
            body = self.query(ctx, "app.bsky.actor.getProfile", params, f"profile of {actor}")
        except Fatal as exc:
            if "not found" not in exc.reason.casefold() and "could not find" not in exc.reason.casefold():
                raise
            # A deleted or taken-down account: its posts still count, under its did.
            profile = Profile(did=actor, handle=actor)
            ctx.state(SourceState.WARNING, f"no Bluesky profile for {actor}; stored under its did")
            return self.profiles.put(profile, actor)
        did, handle = body.get("did"), body.get("handle")
        if not isinstance(did, str) or not isinstance(handle, str):
            raise ConnectionLost(f"profile of {actor}: the answer has no did or handle")
        followers = body.get("followersCount")
        profile = Profile(
            did=did,
            handle=handle,
            display_name=str(body.get("displayName") or ""),
            followers=followers if isinstance(followers, int) and followers >= 0 else 0,
        )
        return self.profiles.put(profile, actor)

    def lookup(self, ctx: SourceContext) -> Callable[[str], Profile]:
        return lambda actor: self.profile(ctx, actor)


class Profiles:
    """Profiles by did and by handle, shared by every Bluesky source; the oldest are forgotten past `size`."""

    def __init__(self, size: int = PROFILE_CACHE) -> None:
        self.size = size
        self._items: OrderedDict[str, Profile] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, actor: str) -> Profile | None:
        key = actor.casefold() if not actor.startswith("did:") else actor
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, profile: Profile, *aliases: str) -> Profile:
        with self._lock:
            for key in {profile.did, profile.handle.casefold(), *aliases}:
                self._items[key] = profile
                self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return profile


def resolve_accounts(ctx: SourceContext, api: Api, brands: Brands) -> None:
    """Learn the dids of the brands' own handles: Jetstream names authors and reply targets only by did."""
    for brand, handles in brands.handles.items():
        for handle in handles:
            did = api.profile(ctx, handle).did
            if did.startswith("did:"):
                brands.own(brand, did)
            else:
                ctx.state(
                    SourceState.WARNING,
                    f"brand {brand!r}: no Bluesky account {handle}; check the brand's accounts.bluesky",
                )
