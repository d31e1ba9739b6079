"""Shared test set-up: no FAAS_* setting leaks in from the shell running the tests, and a database URL on
each database the platform supports (real SQLite, and real PostgreSQL when FAAS_TEST_POSTGRES_URL names
a server; deploy/dev.sh test starts one)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.support.postgres import POSTGRES_URL, fresh_postgres_database


@pytest.fixture(autouse=True)
def _clean_faas_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FAAS_") and name not in ("FAAS_TEST_POSTGRES_URL", "FAAS_DEBIAN_MIRROR"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'faas.db'}"
    elif not POSTGRES_URL:
        pytest.skip("FAAS_TEST_POSTGRES_URL is not set")
    else:
        async with fresh_postgres_database(POSTGRES_URL) as url:
            yield url
