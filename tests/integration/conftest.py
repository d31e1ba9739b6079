"""A migrated store on each database the platform supports: real SQLite, and real PostgreSQL when
FAAS_TEST_POSTGRES_URL names a server (deploy/dev.sh test starts one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.db import create_engine, migrate

from tests.support.postgres import POSTGRES_URL, fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'faas.db'}"
    elif not POSTGRES_URL:
        pytest.skip("FAAS_TEST_POSTGRES_URL is not set")
    else:
        async with fresh_postgres_database(POSTGRES_URL) as url:
            yield url


@pytest.fixture
async def engine(database_url) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
