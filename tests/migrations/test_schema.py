"""The schema alembic's migrations build is the one faas.store.tables declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from faas.store.db import create_engine, migrate
from faas.store.tables import metadata

from tests.support.postgres import POSTGRES_URL, fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'faas.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("FAAS_TEST_POSTGRES_URL is not set")
    async with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


def schema_diff(sync_connection) -> list:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(sync_connection, opts={"compare_type": True,
                                                                "compare_server_default": True})
    return compare_metadata(context, metadata)


async def test_migrations_build_the_declared_schema(database_url):
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(schema_diff)
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert diff == []
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert version


async def test_migrating_twice_changes_nothing(database_url):
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(schema_diff)
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await engine.dispose()
    assert diff == []
    assert len(versions) == 1


async def test_the_comparison_sees_a_difference(database_url):
    """Guards the check itself: a schema that lacks an index is reported."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            await connection.execute(text("DROP INDEX ix_access_keys_principal"))
        async with engine.connect() as connection:
            diff = await connection.run_sync(schema_diff)
    finally:
        await engine.dispose()
    assert [entry[0] for entry in diff] == ["add_index"]
