"""The Mastodon sandbox's HTTP side: auth, the request log, the rate-limit budget, and the REST endpoints
(instance, verify_credentials, hashtag timeline, notifications, an account's statuses, statuses, context,
posting)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from listener.sandbox import wire
from listener.sandbox.mastodon_wire import iso_us, render_account
from store.reply_length import LIMITS, mastodon_length

if TYPE_CHECKING:
    from listener.sandbox.mastodon import MastodonSandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

DEFAULT_LIMIT, MAX_LIMIT = 20, 40
_UNMETERED = ("/api/v1/streaming", "/api/v1/instance", "/api/v2/instance")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=wire.dumps)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": message}, status, headers)


def connect_refusal(status: int, reset_in: float) -> web.Response:
    """A refused stream connect, as Mastodon's streaming server (or the proxy before it) answers one."""
    if status == 429:
        reset = datetime.now(UTC) + timedelta(seconds=reset_in)
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": iso_us(reset),
        }
        return error(429, "Too many requests", headers)
    messages = {401: "The access token is invalid", 503: "Service Unavailable"}
    return error(status, messages.get(status, "Error"))


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() or None if value.startswith("Bearer ") else None


def check_auth(sandbox: MastodonSandbox, request: web.Request) -> web.Response | None:
    token = bearer(request)
    if token is None or (sandbox.valid_token is not None and token != sandbox.valid_token):
        return error(401, "The access token is invalid")
    return None


def request_log(sandbox: MastodonSandbox) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # The token is recorded as present or not: the log is for assertions and never holds a credential.
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": {
                key: request.query.getall(key) if key.endswith("[]") else value
                for key, value in request.query.items()
            },
            "auth": bearer(request) is not None,
            "idempotency_key": request.headers.get("Idempotency-Key"),
            "status": None,
        }
        sandbox._requests.append(entry)
        headers: dict[str, str] = {}
        if not request.path.startswith(_UNMETERED):
            allowed, headers = sandbox.limits.take()
            if not allowed:
                entry["status"] = 429
                return error(429, "Too many requests", headers)
        if request.path.startswith("/api/v1/streaming/"):
            entry["status"] = 200  # a refused connect overwrites this below
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            entry["status"] = exc.status
            raise
        entry["status"] = response.status
        if not response.prepared:
            response.headers.update(headers)
        return response

    return middleware


def page(items: Sequence[T], key: Callable[[T], str], query: Any, url: str) -> tuple[list[T], dict[str, str]]:
    """Mastodon's id pagination: newest first; `max_id`/`since_id` bound the window, `min_id` pages forward
    from an id (the page right after it, still sent newest first); Link headers to the next and previous."""
    try:
        limit = min(MAX_LIMIT, max(1, int(query.get("limit", DEFAULT_LIMIT))))
    except ValueError:
        limit = DEFAULT_LIMIT

    def bound(name: str) -> int | None:
        value = query.get(name)
        return int(value) if value and value.isascii() and value.isdigit() else None

    max_id, since_id, min_id = bound("max_id"), bound("since_id"), bound("min_id")
    ordered = sorted(items, key=lambda item: int(key(item)))
    window = [
        item
        for item in ordered
        if (max_id is None or int(key(item)) < max_id)
        and (since_id is None or int(key(item)) > since_id)
        and (min_id is None or int(key(item)) > min_id)
    ]
    chosen = window[:limit] if min_id is not None else window[-limit:]
    chosen.reverse()
    headers: dict[str, str] = {}
    if chosen:
        older = urlencode({"limit": limit, "max_id": key(chosen[-1])})
        newer = urlencode({"limit": limit, "min_id": key(chosen[0])})
        headers["Link"] = f'<{url}?{older}>; rel="next", <{url}?{newer}>; rel="prev"'
    return chosen, headers


def routes(sandbox: MastodonSandbox) -> list[web.RouteDef]:
    def instance_urls() -> str:
        return "ws" + sandbox.base_url.removeprefix("http")

    async def instance_v1(_: web.Request) -> web.Response:
        return _json(
            {
                "uri": sandbox.base_url.split("://", 1)[1],
                "title": "earful sandbox",
                "version": "4.3.0",
                "urls": {"streaming_api": instance_urls()},
                "stats": {"user_count": 1, "status_count": len(sandbox.statuses), "domain_count": 2},
            }
        )

    async def instance_v2(_: web.Request) -> web.Response:
        return _json(
            {
                "domain": sandbox.base_url.split("://", 1)[1],
                "title": "earful sandbox",
                "version": "4.3.0",
                "configuration": {
                    "urls": {"streaming": instance_urls()},
                    "statuses": {"max_characters": 500},
                },
            }
        )

    async def verify_credentials(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        body = render_account(sandbox.account_user, sandbox.base_url)
        body["source"] = {"privacy": "public", "sensitive": False, "language": "en", "note": "", "fields": []}
        return _json(body)

    async def tag_timeline(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        tag = request.match_info["tag"].lower()
        tagged = [s for s in sandbox.statuses if tag in s.tags]
        chosen, headers = page(tagged, lambda s: s.id, request.query, f"{sandbox.base_url}{request.path}")
        return _json([sandbox.render(s) for s in chosen], headers=headers)

    async def notifications(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        types = request.query.getall("types[]", [])
        excluded = request.query.getall("exclude_types[]", [])
        wanted = (not types or "mention" in types) and "mention" not in excluded
        items = sandbox.notifications if wanted else []
        chosen, headers = page(items, lambda n: n.id, request.query, f"{sandbox.base_url}{request.path}")
        return _json([n.render(sandbox.base_url, sandbox.resolve) for n in chosen], headers=headers)

    async def get_status(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        status = sandbox.status(request.match_info["id"])
        return error(404, "Record not found") if status is None else _json(sandbox.render(status))

    async def context(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        status = sandbox.status(request.match_info["id"])
        if status is None:
            return error(404, "Record not found")
        ancestors, descendants = sandbox.context(status)
        return _json(
            {
                "ancestors": [sandbox.render(s) for s in ancestors],
                "descendants": [sandbox.render(s) for s in descendants],
            }
        )

    async def post_status(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        if request.content_type == "application/json":
            try:
                form: Any = await request.json()
            except json.JSONDecodeError:
                return error(400, "The request body is not valid JSON")
        else:
            form = await request.post()
        text = str(form.get("status") or "")
        if not text.strip():
            return error(422, "Validation failed: Text can't be blank")
        if mastodon_length(text) > LIMITS["mastodon"]:
            return error(422, "Validation failed: Text character limit of 500 exceeded")
        reply_to = form.get("in_reply_to_id")
        if reply_to and sandbox.status(str(reply_to)) is None:
            return error(404, "Record not found")
        visibility = str(form.get("visibility") or "public")
        if visibility not in ("public", "unlisted", "private", "direct"):
            return error(422, "Validation failed: Visibility is not included in the list")
        status = sandbox.post_status(
            text,
            in_reply_to_id=str(reply_to) if reply_to else None,
            lang=str(form.get("language") or "en"),
            idempotency_key=request.headers.get("Idempotency-Key"),
            visibility=visibility,
        )
        return _json(sandbox.render(status))

    async def account_statuses(request: web.Request) -> web.Response:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        statuses = sandbox.by_account(request.match_info["id"])
        chosen, headers = page(statuses, lambda s: s.id, request.query, f"{sandbox.base_url}{request.path}")
        return _json([sandbox.render(s) for s in chosen], headers=headers)

    async def stream(request: web.Request) -> web.StreamResponse:
        if (refusal := check_auth(sandbox, request)) is not None:
            return refusal
        kind = request.match_info["kind"]
        tag = request.query.get("tag")
        if kind in ("hashtag", "hashtag/local") and not tag:
            return error(400, "No tag for stream provided")
        if kind not in ("hashtag", "hashtag/local", "user/notification", "user"):
            return error(404, "Unknown stream type")
        if (failure := sandbox.next_connect_failure()) is not None:
            return failure
        which = {"user/notification": "notification", "user": "user"}.get(kind, "hashtag")
        return await sandbox.streams.serve(request, which, tag if which == "hashtag" else None)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    return [
        web.get("/api/v1/instance", instance_v1),
        web.get("/api/v1/instance/", instance_v1),
        web.get("/api/v2/instance", instance_v2),
        web.get("/api/v2/instance/", instance_v2),
        web.get("/api/v1/accounts/verify_credentials", verify_credentials),
        web.get("/api/v1/timelines/tag/{tag}", tag_timeline),
        web.get("/api/v1/notifications", notifications),
        web.get("/api/v1/accounts/{id:\\d+}/statuses", account_statuses),
        web.get("/api/v1/statuses/{id:\\d+}", get_status),
        web.get("/api/v1/statuses/{id:\\d+}/context", context),
        web.post("/api/v1/statuses", post_status),
        web.get("/api/v1/streaming/health", health),
        web.get("/api/v1/streaming/{kind:hashtag|hashtag/local|user/notification|user}", stream),
    ]
