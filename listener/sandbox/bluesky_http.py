"""The sandbox's XRPC endpoints, as atproto 0.0.73's `Client(base_url=...)` calls them, with `ratelimit-*` headers.

Reads (`app.bsky.*`) answer without a session, as the public AppView does; `createRecord` needs the access JWT
from `createSession`. One budget covers every call (Bluesky limits per account and IP, not per endpoint)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from listener.sandbox.bluesky_wire import jwt, jwt_subject, post_view, profile_detailed, xrpc_error
from listener.terms import QueryError

if TYPE_CHECKING:
    from listener.sandbox.bluesky import BlueskySandbox

ACCESS_LIFETIME = 2 * 3600.0
REFRESH_LIFETIME = 60 * 86400.0
MAX_SEARCH_LIMIT = 100


@dataclass
class Budget:
    """Bluesky's per-account budget: `limit` calls per `window` seconds."""

    limit: int = 3000
    window: float = 300.0
    remaining: int = 3000
    reset_at: float = 0.0

    def take(self) -> bool:
        now = time.time()
        if now >= self.reset_at:
            self.remaining, self.reset_at = self.limit, now + self.window
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def set_remaining(self, remaining: int, reset_in: float | None = None) -> None:
        self.remaining = max(0, remaining)
        self.reset_at = time.time() + (self.window if reset_in is None else reset_in)

    def headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(0, self.remaining)),
            "ratelimit-reset": str(int(self.reset_at + 0.999)),
            "ratelimit-policy": f"{self.limit};w={int(self.window)}",
        }


def error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(xrpc_error(name, message), status=status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(sandbox: BlueskySandbox) -> Any:
    @web.middleware
    async def handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "auth": "bearer" if request.headers.get("Authorization", "").startswith("Bearer ") else None,
            "status": None,
        }
        sandbox.log_request(entry)
        if request.path.startswith("/xrpc/"):
            if not sandbox.budget.take():
                response: web.StreamResponse = error(
                    429, "RateLimitExceeded", "Rate Limit Exceeded", sandbox.budget.headers()
                )
            else:
                response = await handler(request)
                response.headers.update(sandbox.budget.headers())
        else:
            response = await handler(request)
        entry["status"] = response.status
        return response

    return handle


def routes(sandbox: BlueskySandbox) -> list[web.RouteDef]:
    def session_body(did: str) -> dict[str, Any]:
        user = sandbox.user(did)
        assert user is not None
        return {
            "accessJwt": jwt(did, "com.atproto.appPass", ACCESS_LIFETIME),
            "refreshJwt": jwt(did, "com.atproto.refresh", REFRESH_LIFETIME),
            "handle": user.handle,
            "did": did,
            "active": True,
        }

    async def create_session(request: web.Request) -> web.Response:
        body = await _json(request)
        identifier = str(body.get("identifier") or "").strip().lstrip("@")
        if not identifier or not body.get("password"):
            return error(400, "InvalidRequest", "identifier and password are required")
        return web.json_response(session_body(sandbox.account(identifier).did))

    async def refresh_session(request: web.Request) -> web.Response:
        did = _bearer_subject(request)
        if did is None or sandbox.user(did) is None:
            return error(400, "ExpiredToken", "Token has expired")
        return web.json_response(session_body(did))

    async def get_profile(request: web.Request) -> web.Response:
        user = sandbox.user(request.query.get("actor", ""))
        if user is None:
            return error(400, "InvalidRequest", "Profile not found")
        return web.json_response(profile_detailed(user))

    async def resolve_handle(request: web.Request) -> web.Response:
        user = sandbox.user(request.query.get("handle", ""))
        if user is None:
            return error(400, "InvalidRequest", "Unable to resolve handle")
        return web.json_response({"did": user.did})

    async def search_posts(request: web.Request) -> web.Response:
        query = request.query.get("q", "").strip()
        if not query:
            return error(400, "InvalidRequest", 'Error: Params must have the property "q"')
        try:
            limit = min(MAX_SEARCH_LIMIT, max(1, int(request.query.get("limit", "25"))))
            offset = int(request.query.get("cursor") or 0)
            hits = sandbox.search(query, since=request.query.get("since"), until=request.query.get("until"))
        except (ValueError, QueryError) as exc:
            return error(400, "InvalidRequest", str(exc))
        page = hits[offset : offset + limit]
        body: dict[str, Any] = {"posts": [post_view(post) for post in page], "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            body["cursor"] = str(offset + limit)
        return web.json_response(body)

    async def get_post_thread(request: web.Request) -> web.Response:
        uri = request.query.get("uri", "")
        try:
            depth = int(request.query.get("depth", "6"))
            height = int(request.query.get("parentHeight", "80"))
        except ValueError as exc:
            return error(400, "InvalidRequest", str(exc))
        thread = sandbox.thread(uri, depth=depth, parent_height=height)
        if thread is None:
            return error(400, "NotFound", f"Post not found: {uri}")
        return web.json_response({"thread": thread})

    async def create_record(request: web.Request) -> web.Response:
        did = _bearer_subject(request)
        if did is None or sandbox.user(did) is None:
            return error(401, "AuthenticationRequired", "Authentication Required")
        body = await _json(request)
        repo, collection, record = body.get("repo"), body.get("collection"), body.get("record")
        if repo not in (did, (sandbox.user(did) or sandbox.account(did)).handle):
            return error(400, "InvalidRequest", "Input/repo must be the authenticated account")
        if collection != "app.bsky.feed.post" or not isinstance(record, dict):
            return error(400, "InvalidRequest", "only app.bsky.feed.post records are supported here")
        try:
            post = sandbox.create_post(did, record)
        except (KeyError, ValueError) as exc:
            return error(400, "InvalidRequest", str(exc))
        return web.json_response(
            {
                "uri": post.uri,
                "cid": post.cid,
                "commit": {"cid": post.cid, "rev": post.rkey},
                "validationStatus": "valid",
            }
        )

    async def subscribe(request: web.Request) -> web.StreamResponse:
        return await sandbox.subscribe(request)

    x = "/xrpc/"
    return [
        web.post(x + "com.atproto.server.createSession", create_session),
        web.post(x + "com.atproto.server.refreshSession", refresh_session),
        web.get(x + "app.bsky.actor.getProfile", get_profile),
        web.get(x + "com.atproto.identity.resolveHandle", resolve_handle),
        web.get(x + "app.bsky.feed.searchPosts", search_posts),
        web.get(x + "app.bsky.feed.getPostThread", get_post_thread),
        web.post(x + "com.atproto.repo.createRecord", create_record),
        web.get("/subscribe", subscribe),
    ]


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _bearer_subject(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return jwt_subject(header[len("Bearer ") :])
