"""Alembic environment: migrations run on the connection the server hands in (see faas.store.db)."""

from __future__ import annotations

import asyncio

from alembic import context

from faas.store.tables import metadata


def run_on(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    from faas.store.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:  # `alembic -x url=... upgrade head` from a shell
    from faas.settings import normalise_database_url

    asyncio.run(run_from_url(normalise_database_url(context.get_x_argument(as_dictionary=True)["url"])))
