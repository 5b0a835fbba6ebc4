"""A database or NATS URL is shown without its credentials, wherever it is shown."""

from __future__ import annotations

import asyncio

import pytest

from store import Store, StoreUnavailable
from store.urls import safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u@db.example/earful?password=hunter2", "postgresql+psycopg://u@db.example/earful?password=***"),
        ("postgresql+psycopg://u:hunter2@db:5432/earful?sslmode=require", "postgresql+psycopg://u:***@db:5432/earful?sslmode=require"),
        ("postgresql://u@/earful?host=/run/pg&sslpassword=hunter2", "postgresql://u@/earful?host=/run/pg&sslpassword=***"),
        ("sqlite:////var/lib/earful/earful.db", "sqlite:////var/lib/earful/earful.db"),
        ("nats://hunter2@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("nats://u:hunter2@127.0.0.1:4222", "nats://u:***@127.0.0.1:4222"),
    ],
)  # fmt: skip
def test_safe_url_hides_every_credential_and_keeps_the_rest(url, shown):
    assert safe_url(url) == shown


def test_a_database_error_never_shows_a_password_given_as_a_query_parameter():
    with pytest.raises(StoreUnavailable) as err:
        Store("postgresql+psycopg://postgres@127.0.0.1:1/earful?password=hunter2").migrate()
    assert "hunter2" not in str(err.value) and "password=***" in str(err.value)


def test_a_nats_error_never_shows_its_credentials():
    from listener.jetstream import BusSettings, JetStreamBus

    async def connect() -> None:
        bus = JetStreamBus(
            asyncio.get_running_loop(), BusSettings(url="nats://u:hunter2@127.0.0.1:1"), consume=True
        )
        await bus.start()

    with pytest.raises(ConnectionError) as err:
        asyncio.run(connect())
    assert "hunter2" not in str(err.value) and "nats://u:***@127.0.0.1:1" in str(err.value)
