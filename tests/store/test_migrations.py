"""The migrations build exactly the schema the models describe, on both back ends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel


def test_migrated_schema_matches_the_models(any_store):
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_migrating_twice_is_harmless(sqlite_store):
    sqlite_store.migrate()
    with sqlite_store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None


def test_an_unreachable_database_names_the_cause_and_the_fix():
    import pytest

    from store import Store, StoreUnavailable

    with pytest.raises(StoreUnavailable) as err:
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none").migrate()
    assert "cannot open the database" in str(err.value) and "Fix:" in str(err.value)
