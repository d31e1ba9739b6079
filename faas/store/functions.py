"""Function configurations and their code blobs in SQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from faas.errors import ResourceConflict, ResourceNotFound
from faas.model import Function, utcnow
from faas.store.tables import code_blobs, function_tags, functions


def as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything we write is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _to_function(row: Any) -> Function:
    return Function(
        name=row.name,
        runtime=row.runtime,
        handler=row.handler,
        role=row.role,
        description=row.description,
        memory_size=row.memory_size,
        timeout=row.timeout,
        ephemeral_storage=row.ephemeral_storage,
        environment=json.loads(row.environment),
        package_type=row.package_type,
        code_sha256=row.code_sha256,
        code_size=row.code_size,
        image_uri=row.image_uri,
        image_config=json.loads(row.image_config),
        revision_id=row.revision_id,
        last_modified=as_utc(row.last_modified),
        reserved_concurrency=row.reserved_concurrency,
        env_ciphertext=bytes(row.env_ciphertext) if row.env_ciphertext is not None else None,
        data_key=bytes(row.data_key) if row.data_key is not None else None,
        architecture=row.architecture,
        logging_config=json.loads(row.logging_config),
        dead_letter_target=row.dead_letter_target,
        owner=row.owner,
    )


def _to_row(fn: Function) -> dict[str, Any]:
    return {
        "name": fn.name,
        "runtime": fn.runtime,
        "handler": fn.handler,
        "role": fn.role,
        "description": fn.description,
        "memory_size": fn.memory_size,
        "timeout": fn.timeout,
        "ephemeral_storage": fn.ephemeral_storage,
        # Only ever the encrypted form; the plaintext column is what releases before 0003 wrote.
        "environment": "{}",
        "env_ciphertext": fn.env_ciphertext,
        "data_key": fn.data_key,
        "package_type": fn.package_type,
        "code_sha256": fn.code_sha256,
        "code_size": fn.code_size,
        "image_uri": fn.image_uri,
        "image_config": json.dumps(fn.image_config, sort_keys=True),
        "logging_config": json.dumps(fn.logging_config, sort_keys=True),
        "dead_letter_target": fn.dead_letter_target,
        "revision_id": fn.revision_id,
        "last_modified": fn.last_modified,
        "reserved_concurrency": fn.reserved_concurrency,
        "architecture": fn.architecture,
        "owner": fn.owner,
    }


class FunctionStore:
    def __init__(self, engine: AsyncEngine, function_arn: Callable[[str], str] = lambda name: name) -> None:
        self._engine = engine
        self._function_arn = function_arn  # Lambda names a function it cannot find by its ARN

    async def get(self, name: str) -> Function | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(functions).where(functions.c.name == name))).first()
        return _to_function(row) if row else None

    async def list(self, after: str | None, limit: int) -> list[Function]:
        query = select(functions).order_by(functions.c.name).limit(limit)
        if after:
            query = query.where(functions.c.name > after)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_function(row) for row in rows]

    async def owners(self) -> set[str]:
        """The principals that created the functions there are now."""
        query = select(functions.c.owner).where(functions.c.owner.is_not(None)).distinct()
        async with self._engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    async def create(self, fn: Function, code: bytes | None, tags: dict[str, str] | None = None) -> None:
        """Store a new function, its code and its tags, all or nothing."""
        async with self._engine.begin() as conn:
            if code is not None:
                await self._put_blob(conn, fn.code_sha256, code)
            if (await conn.execute(select(functions.c.name).where(functions.c.name == fn.name))).first():
                raise ResourceConflict(f"Function already exist: {fn.name}")
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(functions).values(**_to_row(fn)))
            except IntegrityError as exc:  # created by a concurrent request since the check
                raise ResourceConflict(f"Function already exist: {fn.name}") from exc
            if tags:
                await conn.execute(insert(function_tags), [{"function_name": fn.name, "key": key, "value": value}
                                                           for key, value in tags.items()])

    async def tags(self, name: str) -> dict[str, str] | None:
        """The function's tags; None if there is no such function."""
        async with self._engine.connect() as conn:
            return await self._tags(conn, name)

    async def tag(self, name: str, tags: dict[str, str], check_count: Callable[[int], None]) -> None:
        """Add or overwrite tags, after `check_count(total)` accepts how many the function would then have."""
        async with self._engine.begin() as conn:
            current = await self._tags(conn, name)
            if current is None:
                raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")
            check_count(len({**current, **tags}))
            if not tags:
                return
            await conn.execute(delete(function_tags).where(function_tags.c.function_name == name,
                                                           function_tags.c.key.in_(list(tags))))
            await conn.execute(insert(function_tags), [{"function_name": name, "key": key, "value": value}
                                                       for key, value in tags.items()])

    async def untag(self, name: str, keys: list[str]) -> None:
        async with self._engine.begin() as conn:
            if (await conn.execute(select(functions.c.name).where(functions.c.name == name))).first() is None:
                raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")
            await conn.execute(delete(function_tags).where(function_tags.c.function_name == name,
                                                           function_tags.c.key.in_(keys)))

    @staticmethod
    async def _tags(conn: AsyncConnection, name: str) -> dict[str, str] | None:
        if (await conn.execute(select(functions.c.name).where(functions.c.name == name))).first() is None:
            return None
        rows = (await conn.execute(select(function_tags.c.key, function_tags.c.value)
                                   .where(function_tags.c.function_name == name)
                                   .order_by(function_tags.c.key))).all()
        return {row.key: row.value for row in rows}

    async def replace(self, fn: Function, code: bytes | None, expected_revision: str) -> None:
        """Store a new configuration (and code), failing if someone changed it meanwhile."""
        async with self._engine.begin() as conn:
            if code is not None:
                await self._put_blob(conn, fn.code_sha256, code)
            result = await conn.execute(
                update(functions)
                .where(functions.c.name == fn.name, functions.c.revision_id == expected_revision)
                .values(**_to_row(fn))
            )
            if result.rowcount != 1:
                still_there = (await conn.execute(select(functions.c.name).where(functions.c.name == fn.name))).first()
                if still_there is None:
                    raise ResourceNotFound(f"Function not found: {self._function_arn(fn.name)}")
                raise ResourceConflict(
                    f"The operation cannot be performed at this time. An update is in progress for resource: "
                    f"{self._function_arn(fn.name)}"
                )
            await self._drop_unused_blobs(conn)

    async def set_reserved_concurrency(self, name: str, reserved: int | None) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(functions).where(functions.c.name == name).values(reserved_concurrency=reserved)
            )
            if result.rowcount != 1:
                raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")

    async def plaintext_environments(self) -> list[Function]:
        """Functions whose variables are still stored as plaintext (written before encryption existed)."""
        query = select(functions).where(functions.c.environment != "{}")
        async with self._engine.connect() as conn:
            return [_to_function(row) for row in (await conn.execute(query)).all()]

    async def seal_environment(self, name: str, env_ciphertext: bytes, data_key: bytes) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(functions).where(functions.c.name == name).values(
                environment="{}", env_ciphertext=env_ciphertext, data_key=data_key))

    async def reseal_data_keys(self, reseal) -> int:  # type: ignore[no-untyped-def]
        """Re-wrap every function's data key (master key rotation); returns how many."""
        count = 0
        async with self._engine.begin() as conn:
            rows = (await conn.execute(select(functions.c.name, functions.c.data_key)
                                       .where(functions.c.data_key.is_not(None)))).all()
            for row in rows:
                await conn.execute(update(functions).where(functions.c.name == row.name)
                                   .values(data_key=reseal(bytes(row.data_key), row.name)))
                count += 1
        return count

    async def usage(self) -> tuple[int, int]:
        """(number of functions, bytes of zipped code they use)."""
        query = select(func.count(functions.c.name), func.coalesce(func.sum(functions.c.code_size), 0))
        async with self._engine.connect() as conn:
            count, total = (await conn.execute(query)).one()
        return int(count), int(total)

    async def reservations(self) -> dict[str, int]:
        query = select(functions.c.name, functions.c.reserved_concurrency).where(
            functions.c.reserved_concurrency.is_not(None))
        async with self._engine.connect() as conn:
            return {row.name: row.reserved_concurrency for row in (await conn.execute(query)).all()}

    async def delete(self, name: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(functions).where(functions.c.name == name))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")
            await self._drop_unused_blobs(conn)

    async def code(self, sha256: str) -> bytes:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(code_blobs.c.data).where(code_blobs.c.sha256 == sha256))).first()
        if row is None:
            raise ResourceNotFound(f"Code {sha256} is missing from the store")
        return bytes(row.data)

    async def blob_count(self) -> int:
        async with self._engine.connect() as conn:
            return len((await conn.execute(select(code_blobs.c.sha256))).all())

    @staticmethod
    async def _put_blob(conn: AsyncConnection, sha256: str | None, code: bytes) -> None:
        # An upsert, so two uploads of the same zip at once both succeed; DO UPDATE (not NOTHING) locks
        # the row, so a concurrent delete of the blob's last user waits for us and then keeps the blob.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(code_blobs).values(sha256=sha256, size=len(code), data=code, created_at=utcnow())
        await conn.execute(statement.on_conflict_do_update(index_elements=["sha256"],
                                                           set_={"size": statement.excluded.size}))

    @staticmethod
    async def _drop_unused_blobs(conn: AsyncConnection) -> None:
        in_use = exists().where(functions.c.code_sha256 == code_blobs.c.sha256)
        try:
            async with conn.begin_nested():
                await conn.execute(delete(code_blobs).where(~in_use))
        except IntegrityError:
            pass  # a concurrent create took the blob meanwhile (the foreign key said so): keep it
