"""The schema alembic's migrations build is the one faas.store.tables declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from faas.settings import normalise_database_url
from faas.store.db import create_engine, migrate
from faas.store.tables import metadata

POSTGRES_URL = os.environ.get("FAAS_TEST_POSTGRES_URL")


@contextlib.asynccontextmanager
async def fresh_postgres_database(url: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    import asyncpg

    name = f"faas_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    try:
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.InsufficientPrivilegeError:
            pytest.fail("the test role cannot create databases: run "
                        "`runuser -u postgres -- psql -c 'ALTER ROLE faas CREATEDB'`")
        try:
            yield normalise_database_url(make_url(url).set(database=name).render_as_string(hide_password=False))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
