"""What the outbox tests share: each network's sandbox on 127.0.0.1 with customers to answer, the real sender of
that network signed in as a chosen login, and what the sandbox received (every reply it created, every post
request it was sent)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from listener.bluesky import BlueskySender
from listener.mastodon import MastodonSender
from listener.reddit import RedditSender
from listener.sandbox import bluesky as bluesky_box
from listener.sandbox import mastodon as mastodon_box
from listener.sandbox import reddit as reddit_box
from listener.sandbox import x as x_box
from listener.x import XSender
from responders.outbox import Sender

NETWORKS = ["x", "mastodon", "bluesky", "reddit"]
# The login each sender signs in as; on Bluesky and Reddit the brand lists another account first.
LOGIN = {"x": "AcmeSupport", "mastodon": "Delta", "bluesky": "acme-help.bsky.social", "reddit": "AcmeHelp"}
FIRST_LISTED = {"bluesky": "acme.bsky.social", "reddit": "AcmeCo", "x": "AcmeCo", "mastodon": "Delta"}
# A budget praw never paces against.
_BIG_BUDGET = 10_000_000


@dataclass
class Network:
    """One network's sandbox, as the outbox tests see it."""

    name: str
    server: Any
    make_sender: Callable[[], Sender]
    login: str
    customer_posts: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return str(self.server.base_url)

    def post_customer(self, text: str, author: str) -> str:
        """A customer's post; its native id as the collector stores it."""
        sandbox = self.server.sandbox
        if self.name == "x":
            native = sandbox.push(f"@{LOGIN['x']} {text}", author=author).id
        elif self.name == "mastodon":
            native = sandbox.push(f"@{LOGIN['mastodon']} {text}", author=author).id
        elif self.name == "bluesky":
            native = sandbox.push(text, author=author).uri
        else:
            native = sandbox.push(text, author=author).fullname
        self.customer_posts.append(str(native))
        return str(native)

    def replies(self) -> list[tuple[str, str, str]]:
        """(post answered, text, author) of every reply the network created."""
        made = self.server.sandbox.replies
        if self.name == "x":
            return [(t.in_reply_to_id, t.text, t.author.username) for t in made]
        if self.name == "mastodon":
            return [(s.in_reply_to_id, s.text, s.author.username) for s in made]
        if self.name == "bluesky":
            return [(p.parent.uri, p.text, p.author.handle) for p in made]
        return [(t.parent_id, t.text, t.author.username) for t in made]

    def replies_to(self) -> Counter[str]:
        return Counter(answered for answered, _, _ in self.replies())

    def post_requests(self) -> int:
        """Requests that ask the network to create a post (whether or not it created one)."""
        paths = {"x": "/2/tweets", "mastodon": "/api/v1/statuses"}
        count = 0
        for request in self.server.sandbox.requests:
            path, method = str(request.get("path", "")), str(request.get("method", "POST"))
            if self.name in paths:
                count += method == "POST" and path == paths[self.name]
            elif self.name == "bluesky":
                count += path.endswith("com.atproto.repo.createRecord")
            else:
                count += path.rstrip("/") == "/api/comment"
        return count

    def stop(self) -> None:
        self.server.stop()


def sender_for(name: str, base_url: str, login: str) -> Sender:
    """The real sender of `name`, for the sandbox at `base_url`, signed in as `login`."""
    if name == "x":
        return XSender(x_box.sandbox_settings(base_url))
    if name == "mastodon":
        return MastodonSender(mastodon_box.sandbox_settings(base_url))
    if name == "bluesky":
        return BlueskySender(bluesky_box.sandbox_settings(base_url, handle=login))
    if name == "reddit":
        return RedditSender(reddit_box.sandbox_settings(base_url, username=login))
    raise ValueError(name)


def start_network(name: str, *, login: str | None = None) -> Network:
    """The network's sandbox, started, with a factory for senders signed in as `login` (default: LOGIN). On X
    and Mastodon the sandbox posts as the account it was started with."""
    login = login or LOGIN[name]
    server: Any
    if name == "x":
        server = x_box.XSandboxThread(replay=False, keepalive=0.2, account=login)
    elif name == "mastodon":
        server = mastodon_box.MastodonSandboxThread(replay=False, keepalive=0.2, account=login)
    elif name == "bluesky":
        server = bluesky_box.BlueskySandboxThread(replay=False)
    elif name == "reddit":
        server = reddit_box.RedditSandboxThread(replay=False, budget=_BIG_BUDGET, subreddits=["support"])
    else:
        raise ValueError(name)
    server.start()
    return Network(name, server, lambda: sender_for(name, server.base_url, login), login)
