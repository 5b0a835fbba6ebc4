"""The Reddit sandbox's endpoints: the token, listings, info, a user's comments, posting a comment; and the
faults a test scripts (held answers, refused calls, cut bodies, raw bodies, the rate-limit budget)."""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from listener.sandbox import wire
from listener.sandbox.reddit_wire import DEFAULT_LIMIT, MAX_LIMIT, api_errors, error_body, listing, page

if TYPE_CHECKING:
    from listener.sandbox.reddit import RedditSandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_PATH = "/api/v1/access_token"
_REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def reason(status: int) -> str:
    return _REASONS.get(status, "Error")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    data = wire.dumps_bytes(body)
    return web.Response(body=data, status=status, content_type="application/json", headers=headers)


def _error(status: int, headers: dict[str, str] | None = None) -> web.Response:
    extra = dict(headers or {})
    if status == 401:
        # prawcore tells an expired token from a refusal by this header; without it, it cannot map a 401.
        extra["www-authenticate"] = 'Bearer realm="reddit", error="invalid_token"'
    return web.Response(
        body=error_body(status, reason(status)), status=status, content_type="application/json", headers=extra
    )


def _auth_kind(header: str | None) -> str | None:
    if not header:
        return None
    scheme = header.split(" ", 1)[0].lower()
    return scheme if scheme in ("basic", "bearer") else "other"


def _is_listing(request: web.Request) -> bool:
    return request.method == "GET" and request.path != "/api/v1/me"


def middleware(sandbox: RedditSandbox) -> Any:
    @web.middleware
    async def handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Credentials are recorded by kind only: the log is for assertions and must never hold a secret.
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "auth": _auth_kind(request.headers.get("Authorization")),
            "status": None,
        }
        if request.method == "POST":
            form = await request.post()
            entry["form"] = {key: str(value) for key, value in form.items() if key != "password"}
        sandbox._requests.append(entry)
        await sandbox._held()
        response = await _answer(sandbox, request, handler)
        entry["status"] = response.status
        if isinstance(response, web.Response) and _is_listing(request) and sandbox._drops > 0:
            sandbox._drops -= 1
            entry["status"] = "dropped"
            await _cut(request, response)
        return response

    return handle


async def _answer(sandbox: RedditSandbox, request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.rstrip("/") == "/api/info" and sandbox._lookup_refusals:
        # As Reddit answers when the app's budget ran out: 429, none left, the window's end in seconds.
        reset_in = sandbox._lookup_refusals.pop(0)
        headers = {
            "x-ratelimit-remaining": "0.0",
            "x-ratelimit-used": str(sandbox.budget.limit),
            "x-ratelimit-reset": str(math.ceil(reset_in)),
        }
        return _error(429, headers)
    if sandbox._failures:
        status = sandbox._failures.pop(0)
        headers = sandbox.budget.headers() if status == 429 else {}
        if sandbox.failure_retry_after is not None:
            headers["retry-after"] = sandbox.failure_retry_after
        return _error(status, headers or None)
    if request.path == TOKEN_PATH:
        return await handler(request)
    token = (request.headers.get("Authorization") or "").partition(" ")[2]
    if token not in sandbox._tokens:
        return _error(401)
    allowed, headers = sandbox.budget.take()
    if not allowed:
        return _error(429, headers)
    if _is_listing(request) and sandbox._next_answers:
        status, body = sandbox._next_answers.pop(0)
        response: web.StreamResponse = web.Response(
            body=body, status=status, content_type="application/json", headers=headers
        )
        return response
    response = await handler(request)
    response.headers.update(headers)
    return response


async def _cut(request: web.Request, response: web.Response) -> None:
    """Send the headers and half the body, then cut the connection: the client sees a truncated body."""
    body = bytes(response.body or b"")  # type: ignore[arg-type]
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    try:
        await cut.prepare(request)
        await cut.write(body[: len(body) // 2])
    except ConnectionError:
        pass
    if request.transport is not None:
        request.transport.abort()
    # The socket is gone; tell aiohttp not to finish the response on it.
    raise asyncio.CancelledError


def routes(sandbox: RedditSandbox) -> list[web.RouteDef]:
    async def access_token(request: web.Request) -> web.Response:
        basic = (request.headers.get("Authorization") or "").partition(" ")
        try:
            client_id = base64.b64decode(basic[2]).decode().partition(":")[0]
        except ValueError:
            client_id = ""
        if basic[0].lower() != "basic" or not client_id:
            return _json({"message": "Unauthorized", "error": 401}, 401)
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        username: str | None = None
        if grant == "password":
            username = str(form.get("username", ""))
            if not username or not form.get("password"):
                return _json({"error": "invalid_grant"})
        elif grant not in ("client_credentials", "https://oauth.reddit.com/grants/installed_client"):
            return _json({"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(18)
        sandbox._tokens[token] = username
        return _json({"access_token": token, "token_type": "bearer", "expires_in": 86400, "scope": "*"})

    def user_of(request: web.Request) -> str | None:
        return sandbox._tokens.get((request.headers.get("Authorization") or "").partition(" ")[2])

    async def me(request: web.Request) -> web.Response:
        name = user_of(request)
        if name is None:
            return _error(403)
        user = sandbox.directory.get(name) or sandbox.directory.person(name)
        return _json({"name": user.username, "id": user.id, "created_utc": 1_500_000_000.0, "features": {}})

    def paging(request: web.Request) -> dict[str, Any]:
        try:
            limit = max(1, min(MAX_LIMIT, int(request.query.get("limit", DEFAULT_LIMIT))))
        except ValueError:
            limit = DEFAULT_LIMIT
        return {
            "limit": limit,
            "after": request.query.get("after") or None,
            "before": request.query.get("before") or None,
        }

    def subreddit_listing(which: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            name = request.match_info["sub"]
            entries = sandbox.things.listing(name, which)
            if entries is None:
                # Reddit sends an unknown subreddit to its search page.
                return web.Response(status=302, headers={"Location": f"/subreddits/search?q={name}"})
            return _json(page(entries, cap=sandbox.listing_cap, **paging(request)))

        return handler

    async def user_comments(request: web.Request) -> web.Response:
        entries = sandbox.things.by_user.get(request.match_info["name"].casefold(), [])
        return _json(page(entries, cap=sandbox.listing_cap, **paging(request)))

    async def info(request: web.Request) -> web.Response:
        wanted = [name for name in request.query.get("id", "").split(",") if name]
        found = [sandbox.things.by_fullname[name] for name in wanted if name in sandbox.things.by_fullname]
        return _json(listing([thing.as_json() for thing in found], after=None, before=None))

    async def comments_of(request: web.Request) -> web.Response:
        submission = sandbox.things.by_fullname.get("t3_" + request.match_info["id"])
        if submission is None:
            return _error(404)
        replies = [t for t in sandbox.posted if t.kind == "t1" and t.link_id == submission.fullname]
        return _json(
            [
                listing([submission.as_json()], after=None, before=None),
                listing([t.as_json() for t in replies], after=None, before=None),
            ]
        )

    async def comment(request: web.Request) -> web.Response:
        author = user_of(request)
        if author is None:
            return _json(api_errors(("USER_REQUIRED", "Please log in to do that.", None)))
        form = await request.post()
        text, parent = str(form.get("text", "")), str(form.get("thing_id", ""))
        if not text.strip():
            return _json(api_errors(("NO_TEXT", "we need something here", "text")))
        if parent not in sandbox.things.by_fullname:
            return _json(api_errors(("DELETED_COMMENT", "that comment has been deleted", "parent")))
        thing = sandbox._reply(author, parent, text)
        return _json({"json": {"errors": [], "data": {"things": [thing.as_json()]}}})

    return [
        web.post(TOKEN_PATH, access_token),
        web.get("/api/v1/me", me),
        web.get("/r/{sub}/comments", subreddit_listing("comments")),
        web.get("/r/{sub}/comments/", subreddit_listing("comments")),
        web.get("/r/{sub}/new", subreddit_listing("new")),
        web.get("/r/{sub}/new/", subreddit_listing("new")),
        web.get("/user/{name}/comments", user_comments),
        web.get("/user/{name}/comments/", user_comments),
        web.get("/api/info", info),
        web.get("/api/info/", info),
        web.get("/comments/{id}", comments_of),
        web.get("/comments/{id}/", comments_of),
        web.post("/api/comment", comment),
        web.post("/api/comment/", comment),
    ]
