"""Opening the store: the async engine for a URL, and alembic migrations applied at start."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Package data (env.py, script.py.mako, versions/), so an installed wheel can migrate; in a checkout
# faas/migrations is a symlink to the top-level migrations/.
MIGRATIONS_DIR = Path(str(resources.files("faas") / "migrations")).resolve()


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time: WAL lets readers go on while a write commits, and the busy
        # timeout makes a second writer wait instead of failing.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (a replaced secret, a plaintext value before encryption) are overwritten, not left
            # in free pages of the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision, sharing the engine's connection with alembic."""

    def upgrade(sync_connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def scrub(engine: AsyncEngine) -> None:
    """After plaintext secrets were replaced: make sure no copy survives in SQLite's free pages or WAL."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL: VACUUM is the operator's (the old row versions are not readable through SQL)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM refuses a transaction
        await conn.exec_driver_sql("VACUUM")
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
