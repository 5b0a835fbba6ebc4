"""The desk against a real SQLite store and the real sandbox X server; no mocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from earful.app import make_desk, make_tui
from earful.settings import DeskSettings, Settings
from listener.config import BrandSettings
from listener.sandbox.replay import SandboxTweet
from listener.sandbox.x import XSandbox, XSandboxThread, sandbox_settings
from responders.desk import Desk
from store import Store
from store.incoming import ScoredMention
from store.mentions import save_mentions
from tui.app import EarfulApp


@dataclass
class DeskWorld:
    store: Store
    sandbox: XSandbox
    settings: Settings
    desk: Desk
    tweets: dict[str, SandboxTweet]
    store_tweet: Callable[..., None]

    def app(self) -> EarfulApp:
        return make_tui(self.desk, settings=self.settings)


@pytest.fixture
def world(sqlite_store, make_mention) -> Iterator[DeskWorld]:
    server = XSandboxThread(replay=False, keepalive=0.2, account="AcmeSupport")
    base_url = server.start()
    sandbox = server.sandbox
    settings = Settings(
        x=sandbox_settings(base_url),
        brands=[BrandSettings(name="acme", accounts={"x": ["AcmeSupport"]})],
        desk=DeskSettings(responder="alice", refresh_seconds=0.1),
    )
    tweets: dict[str, SandboxTweet] = {}

    def store_tweet(
        name: str,
        text: str,
        *,
        author: str,
        display: str,
        urgency: int,
        tier: str,
        explanation: tuple[str, ...] = (),
        risks: tuple[str, ...] = (),
        in_reply_to: str | None = None,
        **kw,
    ) -> None:
        """Post a tweet on the sandbox and store it as the collector and classifier would have."""
        tweet = sandbox.push(text, author=author, in_reply_to=in_reply_to)
        tweets[name] = tweet
        item: ScoredMention = make_mention(
            tweet.id,
            text=text,
            conversation=tweet.conversation_id,
            author=author,
            urgency=urgency,
            tier=tier,
            **kw,
        )
        item.mention.author.display_name = display
        item.scores.explanation, item.scores.risks = list(explanation), list(risks)
        with sqlite_store.write() as s:
            save_mentions([item], session=s, sla=settings.sla.budgets())

    yield DeskWorld(
        sqlite_store, sandbox, settings, make_desk(settings, store=sqlite_store), tweets, store_tweet
    )
    server.stop()
