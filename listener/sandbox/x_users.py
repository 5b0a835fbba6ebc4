"""The sandbox's user endpoints: `GET /2/users/by/username/:username` and `GET /2/users/:id/mentions`, in the
shapes tweepy's `get_user(username=)` and `get_users_mentions(id)` read."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from listener.sandbox.replay import SandboxTweet, SandboxUser
from listener.sandbox.x_http import _json, _token, _untoken, check_auth
from listener.sandbox.x_wire import Fields, includes_for, invalid_request, render_tweet, render_user
from listener.terms import compile_query

if TYPE_CHECKING:
    from listener.sandbox.x import XSandbox

_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
# X's mentions timeline reaches back this many tweets and no further.
MENTIONS_REACH = 800


def _not_found(kind: str, parameter: str, value: str) -> dict[str, Any]:
    return {
        "errors": [
            {
                "value": value,
                "detail": f"Could not find user with {parameter}: [{value}].",
                "title": "Not Found Error",
                "resource_type": kind,
                "parameter": parameter,
                "resource_id": value,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }


def routes(sandbox: XSandbox) -> list[web.RouteDef]:
    async def by_username(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("bearer", "oauth1"))) is not None:
            return refusal
        username = request.match_info["username"]
        if not _USERNAME.fullmatch(username):
            message = (
                f"The `username` query parameter value [{username}] does not match ^[A-Za-z0-9_]{{1,15}}$"
            )
            return _json(invalid_request(message, "username"), 400)
        user = sandbox.user(username)
        if user is None:
            return _json(_not_found("user", "username", username))
        return _json({"data": render_user(user, Fields.from_query(request.query))})

    async def mentions(request: web.Request) -> web.Response:
        if (refusal := check_auth(request, ("bearer", "oauth1"))) is not None:
            return refusal
        user_id = request.match_info["user_id"]
        user = sandbox.user_by_id(user_id)
        if user is None:
            return _json(_not_found("user", "id", user_id))
        return _mentions(sandbox, user, request)

    return [
        web.get("/2/users/by/username/{username}", by_username),
        web.get("/2/users/{user_id:\\d+}/mentions", mentions),
    ]


def mentions_of(sandbox: XSandbox, user: SandboxUser) -> list[SandboxTweet]:
    """Every tweet that mentions the account (by @handle, or as a reply to it), oldest first."""
    mention = compile_query(f"@{user.username}")
    return [
        tweet
        for tweet in sandbox.posted
        if mention.matches(tweet)
        or (tweet.in_reply_to_user is not None and tweet.in_reply_to_user.id == user.id)
    ]


def _mentions(sandbox: XSandbox, user: SandboxUser, request: web.Request) -> web.Response:
    params = request.query
    max_results = params.get("max_results", "10")
    if not max_results.isdigit() or not 5 <= int(max_results) <= 100:
        message = f"The `max_results` query parameter value [{max_results}] is not between 5 and 100"
        return _json(invalid_request(message, "max_results"), 400)
    size = int(max_results)
    since = int(params["since_id"]) if params.get("since_id", "").isdigit() else None
    until = int(params["until_id"]) if params.get("until_id", "").isdigit() else None
    if "pagination_token" in params:
        before = _untoken(params["pagination_token"])
        if before is None:
            message = "The `pagination_token` query parameter value is not valid"
            return _json(invalid_request(message, "pagination_token"), 400)
        until = before if until is None else min(until, before)
    # Newest first, as X answers, and only as far back as its reach.
    reachable = list(reversed(mentions_of(sandbox, user)))[:MENTIONS_REACH]
    found = [
        tweet
        for tweet in reachable
        if (since is None or int(tweet.id) > since) and (until is None or int(tweet.id) < until)
    ]
    page, more = found[:size], len(found) > size
    if not page:
        return _json({"meta": {"result_count": 0}})
    fields = Fields.from_query(params)
    meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
    if more:
        meta["next_token"] = _token(page[-1].id)
    body: dict[str, Any] = {"data": [render_tweet(tweet, fields) for tweet in page]}
    if includes := includes_for(page, fields):
        body["includes"] = includes
    body["meta"] = meta
    return _json(body)
