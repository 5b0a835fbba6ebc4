"""The four sandbox networks of `earful demo`, each replaying real customer-support conversations over its own
wire protocol on 127.0.0.1, and the settings that point earful's real collectors and senders at them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from earful.settings import DemoSettings
from listener.config import BrandSettings

# The support accounts with the most conversations in the bundled replay, as the brands this desk answers for:
# name -> (X handle, products).
DEMO_ACCOUNTS: dict[str, tuple[str, list[str]]] = {
    "amazon": ("AmazonHelp", ["Prime", "Kindle", "Alexa", "Echo"]),
    "apple": ("AppleSupport", ["iPhone", "iOS", "MacBook", "iTunes"]),
    "uber": ("Uber_Support", ["Uber Eats", "UberPOOL"]),
    "comcast": ("comcastcares", ["Xfinity"]),
    "delta": ("Delta", ["SkyMiles"]),
    "t-mobile": ("TMobileHelp", ["T-Mobile ONE"]),
    "spotify": ("SpotifyCares", ["Spotify Premium"]),
    "american-air": ("AmericanAir", ["AAdvantage"]),
    "chipotle": ("ChipotleTweets", ["burrito", "queso"]),
}
# Mastodon replays only these brands' conversations (as #hashtag posts on one server): a fediverse-sized slice.
MASTODON_BRANDS = ("Delta", "SpotifyCares", "AmericanAir")


def demo_brands() -> list[BrandSettings]:
    """Each brand's accounts on every network, named the way each sandbox names the brand's account."""
    from listener.sandbox.bluesky_wire import sky_handle

    return [
        BrandSettings(
            name=name,
            accounts={
                "x": [handle],
                "mastodon": [handle],
                "bluesky": [sky_handle(handle)],
                "reddit": [handle],
            },
            products=products,
        )
        for name, (handle, products) in DEMO_ACCOUNTS.items()
    ]


@dataclass
class DemoNetworks:
    demo: DemoSettings
    pace: float
    headless: bool
    threads: dict[str, Any] = field(default_factory=dict)

    def start(self) -> DemoNetworks:
        from listener.sandbox.bluesky import BlueskySandboxThread
        from listener.sandbox.mastodon import MastodonSandboxThread
        from listener.sandbox.reddit import RedditSandboxThread
        from listener.sandbox.x import XSandboxThread

        d = self.demo
        # Holds pace conversations for a person at the desk; a headless run measures, so it replays in order.
        common: dict[str, Any] = {
            "history_spacing": d.history_spacing,
            "holds": (0.0, 0.0) if self.headless else (d.customer_hold, d.brand_hold),
            "repeat": not self.headless,
        }
        other = self.pace * d.other_networks_share
        builders: dict[str, Callable[[], Any]] = {
            "x": lambda: XSandboxThread(pace=self.pace, preposted=d.preposted, **common),
            "mastodon": lambda: MastodonSandboxThread(
                pace=other, preposted=d.preposted // 4, only=MASTODON_BRANDS, **common
            ),
            "bluesky": lambda: BlueskySandboxThread(pace=other, preposted=d.preposted // 4, **common),
            "reddit": lambda: RedditSandboxThread(pace=other, preposted=d.preposted // 4, **common),
        }
        try:
            for network in d.networks:
                thread = builders[network]()
                thread.start()
                self.threads[network] = thread
        except BaseException:
            self.stop()
            raise
        return self

    def settings(self) -> dict[str, Any]:
        """Settings overrides: every started network enabled and pointed at its sandbox."""
        from listener.sandbox import bluesky, mastodon, reddit, x

        makers = {
            "x": lambda url: x.sandbox_settings(url),
            "mastodon": lambda url: mastodon.sandbox_settings(
                url, hashtags=[h.lower() for h in MASTODON_BRANDS]
            ),
            "bluesky": lambda url: bluesky.sandbox_settings(url),
            "reddit": lambda url: reddit.sandbox_settings(url),
        }
        overrides: dict[str, Any] = {}
        for network in ("x", "mastodon", "bluesky", "reddit"):
            thread = self.threads.get(network)
            if thread is not None:
                overrides[network] = makers[network](thread.base_url)
            else:
                overrides[network] = makers[network]("http://127.0.0.1:9").model_copy(
                    update={"enabled": False}
                )
        return overrides

    @property
    def x(self) -> Any:
        return self.threads["x"].sandbox

    def pause(self) -> None:
        for thread in self.threads.values():
            thread.sandbox.pause()

    def stop(self) -> None:
        for thread in self.threads.values():
            thread.stop()
