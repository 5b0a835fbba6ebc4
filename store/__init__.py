"""Mentions, threads and customer records (SQLModel): SQLite by default, PostgreSQL for a team."""

from store.engine import Store, StoreUnavailable, default_url

__all__ = ["Store", "StoreUnavailable", "default_url"]
