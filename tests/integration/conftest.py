"""A migrated store on each database the platform supports (`database_url` is in tests/conftest.py), a clock
the test moves, and the queue service over both."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.services.queues import QueueService
from faas.store.db import create_engine, migrate
from faas.store.queues import QueueStore
from faas.store.work import WorkStore


@pytest.fixture
async def engine(database_url) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_queue_service(engine: AsyncEngine, clock: Clock) -> QueueService:
    """A queue service as a node builds one; a second on the same engine is another node, or a restart."""
    return QueueService(QueueStore(engine), WorkStore(engine), region="eu-west-1", account_id="123456789012",
                        clock=clock)


@pytest.fixture
def service(engine: AsyncEngine, clock: Clock) -> QueueService:
    return new_queue_service(engine, clock)
