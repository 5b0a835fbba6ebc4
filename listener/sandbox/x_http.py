"""The sandbox's REST endpoints: stream rules, recent search, tweet lookup and posting a reply."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web

from listener.sandbox import wire
from listener.sandbox.replay import SandboxTweet, iso_ms
from listener.sandbox.x_wire import Fields, auth_kind, includes_for, invalid_request, problem, render_tweet
from listener.terms import QueryError, compile_query
from store.reply_length import LIMITS, x_weighted_length

if TYPE_CHECKING:
    from listener.sandbox.x import XSandbox

MAX_RULE_LENGTH = 512
_MENTION = re.compile(r"(?<![\w@])@(\w+)")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Which rate-limit budget each path spends; the stream has none (X limits its connections instead).
_FAMILIES = {
    "/2/tweets/search/recent": "search",
    "/2/tweets/search/stream/rules": "rules",
}


def _family(request: web.Request) -> str | None:
    if request.path in _FAMILIES:
        return _FAMILIES[request.path]
    if request.path == "/2/tweets":
        return "tweets" if request.method == "POST" else "lookup"
    if request.path.startswith("/2/tweets/") and request.method == "GET" and request.path[10:].isdigit():
        return "lookup"
    if request.path.startswith("/2/users/by/username/"):
        return "users"
    if request.path.startswith("/2/users/") and request.path.endswith("/mentions"):
        return "mentions"
    return None


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=wire.dumps)


def request_log(sandbox: XSandbox) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Auth is recorded by kind only: the log is for assertions, and must never hold a credential.
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "auth": auth_kind(request.headers.get("Authorization")),
            "status": None,
        }
        sandbox._requests.append(entry)
        family = _family(request)
        headers: dict[str, str] = {}
        if family is not None:
            failure = sandbox.next_call_failure(family)
            # A scripted failure leaves the budget alone, so a test's counts stay its own.
            allowed, headers = sandbox.limits.take(family, spend=failure is None)
            if failure is not None and failure != 429:
                entry["status"] = failure
                phrase = HTTPStatus(failure).phrase
                return _json(problem(phrase, phrase, failure), failure)
            if not allowed or failure == 429:
                response: web.StreamResponse = _json(
                    problem("Too Many Requests", "Too Many Requests", 429), 429
                )
                response.headers.update(headers)
                entry["status"] = 429
                return response
        if request.path == "/2/tweets/search/stream":
            entry["status"] = 200  # a refused connect overwrites this below
        response = await handler(request)
        entry["status"] = response.status
        if not response.prepared:
            response.headers.update(headers)
        return response

    return middleware


def check_auth(request: web.Request, accepted: Iterable[str]) -> web.Response | None:
    kind = auth_kind(request.headers.get("Authorization"))
    if kind is None:
        return _json(problem("Unauthorized", "Unauthorized", 401), 401)
    if kind not in accepted:
        detail = (
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint. Supported "
            "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
        )
        return _json(
            problem(
                "Unsupported Authentication",
                detail,
                403,
                "https://api.twitter.com/2/problems/unsupported-authentication",
            ),
            403,
        )
    return None


def connect_refusal(status: int) -> web.Response:
    if status == 429:
        body = problem(
            "ConnectionException",
            "This stream is currently at the maximum allowed connection limit.",
            429,
            "https://api.twitter.com/2/problems/streaming-connection",
            connection_issue="TooManyConnections",
        )
    else:
        body = problem("Service Unavailable", "Service Unavailable", status)
    return _json(body, status)


def routes(sandbox: XSandbox) -> list[web.RouteDef]:
    async def get_rules(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("bearer",))) is not None:
            return refusal
        wanted = {part for part in request.query.get("ids", "").split(",") if part}
        rules = [rule.as_json() for rule in sandbox._rules if not wanted or rule.id in wanted]
        meta = {"sent": iso_ms(datetime.now(UTC)), "result_count": len(rules)}
        return _json({"data": rules, "meta": meta} if rules else {"meta": meta})

    async def post_rules(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("bearer",))) is not None:
            return refusal
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _json(invalid_request("The request body is not valid JSON", "body"), 400)
        dry_run = request.query.get("dry_run", "false").lower() == "true"
        if isinstance(body, dict) and "add" in body:
            return _json(_add_rules(sandbox, body["add"], dry_run=dry_run))
        if isinstance(body, dict) and isinstance(body.get("delete"), dict):
            return _json(_delete_rules(sandbox, body["delete"].get("ids", []), dry_run=dry_run))
        return _json(invalid_request("The body must hold either `add` or `delete`", "body"), 400)

    async def search_recent(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("bearer", "oauth1"))) is not None:
            return refusal
        return _search(sandbox, request)

    async def lookup(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("bearer", "oauth1"))) is not None:
            return refusal
        tweet_id = request.match_info["tweet_id"]
        tweet = sandbox.tweet(tweet_id)
        fields = Fields.from_query(request.query)
        if tweet is None:
            error = {
                "value": tweet_id,
                "detail": f"Could not find tweet with id: [{tweet_id}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": tweet_id,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
            return _json({"errors": [error]})
        body: dict[str, Any] = {"data": render_tweet(tweet, fields)}
        if includes := includes_for([tweet], fields, sandbox.tweet):
            body["includes"] = includes
        return _json(body)

    async def lookup_many(request: web.Request) -> web.Response:
        # GET /2/tweets?ids=: what a client asks for a tweet's parent. Tweets X will not show are `errors`
        # beside `data`, under 200.
        if (refusal := check_auth(request, ("bearer", "oauth1"))) is not None:
            return refusal
        ids = [part for part in request.query.get("ids", "").split(",") if part]
        if not ids or len(ids) > 100 or not all(part.isdigit() for part in ids):
            return _json(
                invalid_request("The `ids` query parameter value must be 1 to 100 tweet ids", "ids"), 400
            )
        fields = Fields.from_query(request.query)
        found = [tweet for tweet in map(sandbox.tweet, ids) if tweet is not None]
        body: dict[str, Any] = {}
        if found:
            body["data"] = [render_tweet(tweet, fields) for tweet in found]
            if includes := includes_for(found, fields, sandbox.tweet):
                body["includes"] = includes
        missing = [tweet_id for tweet_id in ids if sandbox.tweet(tweet_id) is None]
        if missing:
            body["errors"] = [_not_found(tweet_id, "ids") for tweet_id in missing]
        return _json(body)

    async def create_tweet(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("oauth1",))) is not None:
            return refusal
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _json(invalid_request("The request body is not valid JSON", "body"), 400)
        return _create(sandbox, body if isinstance(body, dict) else {})

    return [
        web.get("/2/tweets/search/stream/rules", get_rules),
        web.post("/2/tweets/search/stream/rules", post_rules),
        web.get("/2/tweets/search/recent", search_recent),
        web.get("/2/tweets/{tweet_id:\\d+}", lookup),
        web.get("/2/tweets", lookup_many),
        web.post("/2/tweets", create_tweet),
    ]


def _not_found(tweet_id: str, parameter: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Could not find tweet with {parameter}: [{tweet_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": parameter,
        "resource_id": tweet_id,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


def _add_rules(sandbox: XSandbox, wanted: Any, *, dry_run: bool) -> dict[str, Any]:
    from listener.sandbox.x import Rule

    rules = list(sandbox._rules)
    created: list[dict[str, str]] = []
    errors: list[dict[str, Any]] = []
    for item in wanted if isinstance(wanted, list) else []:
        value = str(item.get("value", "")) if isinstance(item, dict) else ""
        tag = item.get("tag") if isinstance(item, dict) else None
        existing = next((rule for rule in rules if rule.value == value), None)
        if existing is not None:
            errors.append(
                {
                    "value": value,
                    "id": existing.id,
                    "title": "DuplicateRule",
                    "type": "https://api.twitter.com/2/problems/duplicate-rules",
                }
            )
            continue
        try:
            if len(value) > MAX_RULE_LENGTH:
                raise QueryError(f"Rule length exceeds the limit of {MAX_RULE_LENGTH} characters")
            query = compile_query(value)
        except QueryError as exc:
            errors.append(
                {
                    "value": value,
                    "details": [str(exc)],
                    "title": "UnprocessableEntity",
                    "type": "https://api.twitter.com/2/problems/invalid-rules",
                }
            )
            continue
        rule = Rule(
            id=str(sandbox.ids.next()[0]), value=value, tag=str(tag) if tag is not None else None, query=query
        )
        rules.append(rule)
        created.append(rule.as_json())
    if not dry_run:
        sandbox.set_rules(rules)
        # Whoever a rule follows with from: is taken for a brand, so demo replies have an author.
        for rule in rules:
            for handle in rule.query.authors():
                sandbox.directory.brand(handle)
    summary = {
        "created": len(created),
        "not_created": len(errors),
        "valid": len(created),
        "invalid": len(errors),
    }
    body: dict[str, Any] = {"meta": {"sent": iso_ms(datetime.now(UTC)), "summary": summary}}
    if created:
        body["data"] = created
    if errors:
        body["errors"] = errors
    return body


def _delete_rules(sandbox: XSandbox, ids: Any, *, dry_run: bool) -> dict[str, Any]:
    wanted = {str(i) for i in ids} if isinstance(ids, list) else set()
    known = {rule.id for rule in sandbox._rules}
    errors = [
        {
            "errors": [{"parameters": {}, "message": "Rule does not exist"}],
            "title": "Invalid Request",
            "type": "https://api.twitter.com/2/problems/invalid-request",
            "value": rule_id,
        }
        for rule_id in sorted(wanted - known)
    ]
    if not dry_run:
        sandbox.set_rules([rule for rule in sandbox._rules if rule.id not in wanted])
    summary = {"deleted": len(wanted & known), "not_deleted": len(wanted - known)}
    body: dict[str, Any] = {"meta": {"sent": iso_ms(datetime.now(UTC)), "summary": summary}}
    if errors:
        body["errors"] = errors
    return body


def _token(tweet_id: str) -> str:
    return base64.urlsafe_b64encode(f"before:{tweet_id}".encode()).decode().rstrip("=")


def _untoken(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, value = text.partition(":")
    return int(value) if kind == "before" and value.isdigit() else None


def _search(sandbox: XSandbox, request: web.Request) -> web.Response:
    params = request.query
    query_text = params.get("query", "")
    try:
        query = compile_query(query_text)
    except QueryError as exc:
        return _json(invalid_request(f"Invalid query: {exc}", "query"), 400)
    max_results = params.get("max_results", "10")
    if not max_results.isdigit() or not 10 <= int(max_results) <= 100:
        return _json(
            invalid_request(
                f"The `max_results` query parameter value [{max_results}] is not between 10 and 100",
                "max_results",
            ),
            400,
        )
    since = int(params["since_id"]) if params.get("since_id", "").isdigit() else None
    until = int(params["until_id"]) if params.get("until_id", "").isdigit() else None
    if "next_token" in params:
        before = _untoken(params["next_token"])
        if before is None:
            return _json(
                invalid_request("The `next_token` query parameter value is not valid", "next_token"), 400
            )
        until = before if until is None else min(until, before)
    # Newest first, as X answers.
    found: list[SandboxTweet] = []
    for tweet in reversed(sandbox.posted):
        number = int(tweet.id)
        if (since is not None and number <= since) or (until is not None and number >= until):
            continue
        if query.matches(tweet):
            found.append(tweet)
            if len(found) > int(max_results):
                break
    page, more = found[: int(max_results)], len(found) > int(max_results)
    if not page:
        return _json({"meta": {"result_count": 0}})
    fields = Fields.from_query(params)
    meta: dict[str, Any] = {"newest_id": page[0].id, "oldest_id": page[-1].id, "result_count": len(page)}
    if more:
        meta["next_token"] = _token(page[-1].id)
    body: dict[str, Any] = {"data": [render_tweet(tweet, fields) for tweet in page]}
    if includes := includes_for(page, fields):
        body["includes"] = includes
    body["meta"] = meta
    return _json(body)


def _create(sandbox: XSandbox, body: dict[str, Any]) -> web.Response:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return _json(invalid_request("The `text` field is required and must not be empty", "text"), 400)
    reply = body.get("reply") if isinstance(body.get("reply"), dict) else None
    parent: SandboxTweet | None = None
    if reply is not None:
        parent_id = str(reply.get("in_reply_to_tweet_id", ""))
        parent = sandbox.tweet(parent_id)
        if parent is None:
            return _json(
                invalid_request(
                    f"The tweet {parent_id!r} you are replying to does not exist",
                    "reply.in_reply_to_tweet_id",
                ),
                400,
            )
    author = sandbox.account or (_brand_of(sandbox, parent) if parent is not None else None)
    if author is None:
        message = (
            "The sandbox cannot tell which account posts this tweet: reply to a brand conversation "
            "or start the sandbox with account=..."
        )
        return _json(invalid_request(message, "reply"), 400)
    if x_weighted_length(text) > LIMITS["x"]:
        # X counts weighted length (twitter-text), not characters: CJK and emoji weigh 2, a URL 23.
        detail = "Your Tweet text is too long. For more information on how X counts, see twitter-text."
        return _json(problem("Forbidden", detail, 403), 403)
    if any(t.author.username.casefold() == author.casefold() and t.text == text for t in sandbox.replies):
        detail = "You are not allowed to create a Tweet with duplicate content."
        return _json(problem("Forbidden", detail, 403), 403)
    tweet = sandbox.new_tweet(text, author, parent, "en", "reply")
    sandbox.emit(tweet)
    return _json({"data": {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}}, 201)


def _brand_of(sandbox: XSandbox, tweet: SandboxTweet | None) -> str | None:
    """The brand a conversation is with: the brand that wrote a tweet or that it mentions, up the thread."""
    brands = sandbox.directory.brand_handles
    while tweet is not None:
        if tweet.author.is_brand:
            return tweet.author.username
        for handle in _MENTION.findall(tweet.text):
            if handle.casefold() in brands:
                return brands[handle.casefold()]
        tweet = sandbox.tweet(tweet.in_reply_to_id) if tweet.in_reply_to_id else None
    return None
