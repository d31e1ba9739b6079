"""Function URL configurations in SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.errors import ResourceConflict, ResourceNotFound
from faas.store.functions import as_utc
from faas.store.tables import function_urls


@dataclasses.dataclass(frozen=True)
class UrlConfig:
    function_name: str
    url_id: str
    auth_type: str  # NONE | AWS_IAM
    cors: dict
    created_at: dt.datetime
    last_modified: dt.datetime
    invoke_mode: str = "BUFFERED"  # BUFFERED | RESPONSE_STREAM


def _config(row) -> UrlConfig:  # type: ignore[no-untyped-def]
    return UrlConfig(row.function_name, row.url_id, row.auth_type, json.loads(row.cors), as_utc(row.created_at),
                     as_utc(row.last_modified), row.invoke_mode)


class UrlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, config: UrlConfig) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(function_urls).values(**{**dataclasses.asdict(config),
                                                                   "cors": json.dumps(config.cors)}))
        except IntegrityError as exc:
            raise ResourceConflict(f"Failed to create function url config for [functionArn = "
                                   f"{config.function_name}]. Error message:  FunctionUrlConfig exists for this "
                                   "Lambda function") from exc

    async def get(self, function_name: str) -> UrlConfig | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(function_urls).where(
                function_urls.c.function_name == function_name))).first()
        return _config(row) if row else None

    async def by_url_id(self, url_id: str) -> UrlConfig | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(function_urls).where(function_urls.c.url_id == url_id))).first()
        return _config(row) if row else None

    async def replace(self, config: UrlConfig) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(function_urls).where(function_urls.c.function_name == config.function_name)
                               .values(auth_type=config.auth_type, cors=json.dumps(config.cors),
                                       invoke_mode=config.invoke_mode, last_modified=config.last_modified))

    async def delete(self, function_name: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(function_urls).where(function_urls.c.function_name == function_name))
        if result.rowcount != 1:
            raise ResourceNotFound("The resource you requested does not exist.")
