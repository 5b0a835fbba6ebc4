"""The listener's settings sections. Plain pydantic models: earful.settings composes them (EARFUL_ prefix,
`__` nesting, a TOML file), and nothing here reads the environment by itself."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from listener.transport import X_API


class XSettings(BaseModel):
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

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def has_user_auth(self) -> bool:
        return all((self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret))


class BrandSettings(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    # X rule values, each one alternative: `acme`, `"my order"`, `acme -job` (space = AND inside one term).
    terms: list[str] = Field(default_factory=list)
    # Network -> the brand's own handles, e.g. {"x": ["AmazonHelp"]}: their posts are the brand's side of
    # threads.
    accounts: dict[str, list[str]] = Field(default_factory=dict)
    products: list[str] = Field(default_factory=list)

    @field_validator("accounts")
    @classmethod
    def _bare_handles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {
            network: [handle.strip().lstrip("@") for handle in handles] for network, handles in value.items()
        }

    def handles(self, network: str) -> list[str]:
        return [handle for handle in self.accounts.get(network, []) if handle]
