"""The listener's settings sections. Plain pydantic models: earful.settings composes them (EARFUL_ prefix,
`__` nesting, a TOML file), and nothing here reads the environment by itself."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from listener.transport import X_API

# A misspelled key is refused, never dropped: `[x] pol_seconds = 5` would otherwise leave the default in force.
STRICT = ConfigDict(extra="forbid")


class XSettings(BaseModel):
    model_config = STRICT

    enabled: bool = True
    # The real API by default; the sandbox (or any X-compatible server) is just another base URL.
    base_url: str = X_API
    # App-only auth: the filtered stream, its rules and recent search.
    bearer_token: SecretStr | None = None
    # OAuth 1.0a user context: posting replies as the brand's account.
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    # Recent search pages of 100 on the very first start (no cursor yet): how far back to look.
    backfill_max_pages: int = Field(default=5, ge=1, le=100)
    # After a disconnect, the most pages that may fill the gap (100 pages = 10,000 tweets) before it is
    # reported as truncated.
    gap_max_pages: int = Field(default=100, ge=1, le=1000)
    # Search from a little before the cursor: X streams in arrival order, not strictly by id (duplicates
    # cost nothing).
    backfill_rewind_seconds: float = Field(default=10.0, ge=0, le=3600)
    # X sends a keep-alive every 20 s; a silent connection for longer than this is dead and is reopened.
    read_timeout: float = Field(default=21.0, gt=0, le=600)
    # Lines longer than this are put aside unparsed (a tweet with all its expansions is a few kilobytes).
    max_line_bytes: int = Field(default=1_048_576, ge=1024)
    # The supervisor's watchdog: no byte (not even a keep-alive) for this long and the stream is reopened,
    # about twice X's 20 s keep-alive.
    stall_seconds: float = Field(default=45.0, gt=0, le=3600)
    # "stream": the filtered stream, backfilled by recent search. "poll": recent search every poll_seconds,
    # for apps whose access level has no filtered stream.
    mode: str = Field(default="stream", pattern="^(stream|poll)$")
    # Poll the mentions timeline of each brand's X accounts too (it sees replies whose @handle X hides).
    mentions: bool = True
    # Seconds between polls (polling mode's searches, mentions). Every call also waits for its rate-limit
    # budget's reset rather than being refused.
    poll_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # Reconciliation (listener/reconcile.py): while the stream is live, recent search since each brand's cursor
    # this often, since a stream can drop tweets and deliver the next; one search call per brand rule, well
    # inside even the Basic tier's 60 searches per 15 minutes for a few brands.
    reconcile_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # No tweet on the stream for this long (keep-alives only) and it counts as silent: reconciled at once and
    # then this often. Two minutes is longer than a busy brand's quiet, short enough to bound a quiet one's lag.
    quiet_seconds: float = Field(default=120.0, gt=0, le=86_400)
    # Thread context (listener/context.py): the posts above a mention (what it replies to, up to the root)
    # fetched so a thread starts where the conversation did, at most this many per mention (0: none). One
    # tweet lookup per post, from the app's own lookup budget, waited for when spent.
    thread_context: int = Field(default=10, ge=0, le=100)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def has_user_auth(self) -> bool:
        return all((self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret))


def _http_base(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


# Every base URL comes from configuration or EARFUL_<NETWORK>__BASE_URL, so any server speaking the protocol
# (the sandbox, a proxy, a self-hosted instance) can stand in for the real one.
BaseURL = Annotated[str, AfterValidator(_http_base)]


class MastodonSettings(BaseModel):
    """One Mastodon server (the brand's account lives there); hashtag streams and the account's mentions."""

    model_config = STRICT

    enabled: bool = False
    base_url: BaseURL = "https://mastodon.social"
    access_token: SecretStr | None = None
    # Hashtags to stream (without '#'); each brand's own hashtags in its terms are added to these.
    hashtags: list[str] = Field(default_factory=list)
    # The notification stream of the token's account: replies to and mentions of the brand.
    notifications: bool = True
    # Mastodon sends a ':thump' heartbeat about every 10 s; silence for longer than this is a dead stream.
    read_timeout: float = Field(default=45.0, gt=0, le=600)
    # Pages of 40 on the very first start (no cursor yet): how far back to look.
    backfill_max_pages: int = Field(default=5, ge=1, le=100)
    # Hashtag backfills start this long before the cursor: a status federated late carries an id from its
    # own (earlier) creation time, behind statuses already seen (duplicates cost nothing).
    backfill_rewind_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Reconciliation (listener/reconcile.py): the REST timeline from the cursor (min_id) this often while a
    # stream is live; a page or two of Mastodon's 300 calls per 5 minutes.
    reconcile_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # No status for this long (heartbeats only) and a stream counts as silent: reconciled at once and then this
    # often. A hashtag may be quiet for hours; each silent turn costs one REST call.
    quiet_seconds: float = Field(default=120.0, gt=0, le=86_400)
    # Thread context (listener/context.py): at most this many posts above a mention (0: none); one /context
    # call for the whole chain, usually the one that found the conversation's root already.
    thread_context: int = Field(default=10, ge=0, le=100)

    @field_validator("hashtags")
    @classmethod
    def _bare_tags(cls, value: list[str]) -> list[str]:
        return [tag.strip().lstrip("#").lower() for tag in value if tag.strip().lstrip("#")]


class BlueskySettings(BaseModel):
    """Bluesky: Jetstream (v1 framing: JSON text frames from /subscribe) for live posts, the AppView for search
    and the PDS (the brand's account) for replies."""

    model_config = STRICT

    enabled: bool = False
    jetstream_url: str = "wss://jetstream2.us-east.bsky.network"
    base_url: BaseURL = (
        "https://bsky.social"  # the PDS: login, posting; also answers searchPosts via the AppView
    )
    handle: str | None = None
    app_password: SecretStr | None = None
    # On reconnect, replay from this long before the stored cursor (Jetstream's own advice; dedupe covers it).
    rewind_seconds: float = Field(default=5.0, ge=0, le=3600)
    # The client pings every read_timeout / 2; silence (not even a pong) for read_timeout means a dead socket.
    read_timeout: float = Field(default=60.0, gt=0, le=600)
    # Search (searchPosts per brand) runs this often while Jetstream is down or failing...
    poll_seconds: float = Field(default=30.0, gt=0)
    # ...and this often while Jetstream streams (the reconciliation of listener/reconcile.py): a stream can drop
    # posts and deliver the next; search finds them, and keeps the search cursors fresh.
    standby_seconds: float = Field(default=300.0, gt=0)
    # Jetstream carries every post of the network, many a second: no frame for this long (pings only) and it
    # counts as silent, reconciled by search at once and then this often (a reconnect replays the rest).
    quiet_seconds: float = Field(default=60.0, gt=0)
    # Search pages of 100 on the very first start (no cursor yet), and at most to close a gap after one.
    backfill_max_pages: int = Field(default=5, ge=1, le=100)
    gap_max_pages: int = Field(default=50, ge=1, le=1000)
    # Frames longer than this are put aside unparsed (a post event is about a kilobyte).
    max_frame_bytes: int = Field(default=1_048_576, ge=1024)
    # Thread context (listener/context.py): at most this many posts above a mention (0: none); one
    # getPostThread call (parentHeight) for the whole chain.
    thread_context: int = Field(default=10, ge=0, le=100)

    @field_validator("jetstream_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value.rstrip("/")


class RedditSettings(BaseModel):
    """Reddit (script app credentials): comments and submissions of the listed subreddits, filtered by terms."""

    model_config = STRICT

    enabled: bool = False
    base_url: BaseURL = "https://oauth.reddit.com"
    auth_url: BaseURL = "https://www.reddit.com"
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    user_agent: str = "earful/0.1 (social listening desk)"
    subreddits: list[str] = Field(default_factory=list)
    # What to follow in each subreddit: its comments (/r/{sub}/comments) and its new posts (/r/{sub}/new).
    comments: bool = True
    submissions: bool = True
    poll_seconds: float = Field(default=5.0, gt=0)
    # prawcore's own default; a request silent for longer is abandoned and retried.
    read_timeout: float = Field(default=16.0, gt=0, le=600)
    # Reddit has no keep-alive: every poll answer is one. No answer for this long (default: two polls plus
    # one slow request) and the connection is presumed stuck and reopened.
    stall_after: float | None = Field(default=None, gt=0)
    # Items per listing page (Reddit's maximum is 100) and the most pages one catch-up may read: Reddit keeps
    # only about the newest 1000 items of a listing, so 10 pages of 100 reach as far back as it allows.
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=10, ge=1, le=100)
    # Thread context (listener/context.py): at most this many posts above a mention (0: none), up to the
    # submission; one /api/info call per post, from the app's budget.
    thread_context: int = Field(default=10, ge=0, le=100)

    @field_validator("subreddits")
    @classmethod
    def _bare_subreddits(cls, value: list[str]) -> list[str]:
        names = [name.strip().removeprefix("/").removeprefix("r/").strip("/") for name in value]
        return [name for name in names if name]

    def stall_seconds(self) -> float:
        return self.stall_after or 2 * self.poll_seconds + self.read_timeout


NETWORKS = ("x", "mastodon", "bluesky", "reddit")


class BrandSettings(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=100)
    # Each term one alternative, in the query language of listener/terms.py (X's, plus AND/NOT):
    # `acme`, `"my order"`, `acme -job`, `acme AND (refund OR "late delivery") NOT job`.
    terms: list[str] = Field(default_factory=list)
    # Which networks listen for this brand (each network must also be enabled in its own section).
    networks: list[str] = Field(default_factory=lambda: list(NETWORKS))
    # Network -> the brand's own handles, e.g. {"x": ["AmazonHelp"]}: their posts are the brand's side of
    # threads.
    accounts: dict[str, list[str]] = Field(default_factory=dict)
    products: list[str] = Field(default_factory=list)

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(NETWORKS))
        if unknown:
            raise ValueError(f"unknown network {', '.join(unknown)}; choose from {', '.join(NETWORKS)}")
        return value

    @field_validator("terms")
    @classmethod
    def _valid_terms(cls, value: list[str]) -> list[str]:
        from listener.terms import QueryError, compile_query

        for term in value:
            if term.strip():
                try:
                    compile_query(term)
                except QueryError as exc:
                    raise ValueError(f"term {term!r}: {exc}") from exc
        return value

    def listens_on(self, network: str) -> bool:
        return network in self.networks

    @field_validator("accounts")
    @classmethod
    def _bare_handles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {
            network: [handle.strip().lstrip("@") for handle in handles] for network, handles in value.items()
        }

    def handles(self, network: str) -> list[str]:
        return [handle for handle in self.accounts.get(network, []) if handle]
