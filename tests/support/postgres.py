"""A fresh, empty PostgreSQL database per test, on the server the test command started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from faas.settings import normalise_database_url

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
            await _drop(admin, name)
    finally:
        await admin.close()


async def _drop(admin, name: str) -> None:  # type: ignore[no-untyped-def]
    """DROP ... WITH (FORCE) may not end an autovacuum worker that happens to be in the new database (the
    test role may only end its own sessions): that worker finishes within moments, so try again until then."""
    import asyncpg

    deadline = time.monotonic() + 30
    while True:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
