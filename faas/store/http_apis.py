"""HTTP APIs in SQL: each API's document, and its parts (routes, integrations, stages, authorizers)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.errors import FaasError
from faas.store.tables import http_api_parts, http_apis


class Duplicate(FaasError):
    """A part with this id or unique key is already in the API (the service words it as AWS does)."""


@dataclasses.dataclass(frozen=True)
class Part:
    kind: str  # route | integration | stage | authorizer
    part_id: str
    document: dict
    unique_key: str | None = None


@dataclasses.dataclass(frozen=True)
class HttpApi:
    """One API with every part of it: what serving a request reads, in one go."""

    api_id: str
    document: dict
    parts: tuple[Part, ...]

    def of(self, kind: str) -> list[Part]:
        return [part for part in self.parts if part.kind == kind]


class HttpApiStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, api_id: str, document: dict, parts: list[Part], now: dt.datetime) -> None:
        """The API and its first parts (quick create's), in one transaction."""
        async with self._engine.begin() as conn:
            await conn.execute(insert(http_apis).values(api_id=api_id, document=json.dumps(document), created_at=now))
            for part in parts:
                await conn.execute(insert(http_api_parts).values(_row(api_id, part, now)))

    async def get(self, api_id: str) -> HttpApi | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(http_apis.c.document).where(http_apis.c.api_id == api_id))).first()
            if row is None:
                return None
            rows = (await conn.execute(select(http_api_parts).where(http_api_parts.c.api_id == api_id)
                                       .order_by(http_api_parts.c.created_at, http_api_parts.c.part_id))).all()
        return HttpApi(api_id, json.loads(row.document),
                       tuple(Part(r.kind, r.part_id, json.loads(r.document), r.unique_key) for r in rows))

    async def list(self) -> list[dict]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(http_apis.c.document)
                                       .order_by(http_apis.c.created_at, http_apis.c.api_id))).all()
        return [json.loads(row.document) for row in rows]

    async def replace(self, api_id: str, document: dict) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(http_apis).where(http_apis.c.api_id == api_id)
                                        .values(document=json.dumps(document)))
        return result.rowcount == 1

    async def delete(self, api_id: str) -> bool:
        async with self._engine.begin() as conn:
            # Explicitly, not only by the foreign key's cascade: SQLite enforces it only with its pragma on.
            await conn.execute(delete(http_api_parts).where(http_api_parts.c.api_id == api_id))
            result = await conn.execute(delete(http_apis).where(http_apis.c.api_id == api_id))
        return result.rowcount == 1

    async def add_part(self, api_id: str, part: Part, now: dt.datetime) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(http_api_parts).values(_row(api_id, part, now)))
        except IntegrityError as exc:
            raise Duplicate(f"{part.kind} {part.part_id}") from exc

    async def replace_part(self, api_id: str, part: Part) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(update(http_api_parts).where(
                    http_api_parts.c.api_id == api_id, http_api_parts.c.kind == part.kind,
                    http_api_parts.c.part_id == part.part_id,
                ).values(document=json.dumps(part.document), unique_key=part.unique_key))
        except IntegrityError as exc:
            raise Duplicate(f"{part.kind} {part.part_id}") from exc

    async def delete_part(self, api_id: str, kind: str, part_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(http_api_parts).where(
                http_api_parts.c.api_id == api_id, http_api_parts.c.kind == kind,
                http_api_parts.c.part_id == part_id))
        return result.rowcount == 1


def _row(api_id: str, part: Part, now: dt.datetime) -> dict:
    return {"api_id": api_id, "kind": part.kind, "part_id": part.part_id, "unique_key": part.unique_key,
            "document": json.dumps(part.document), "created_at": now}
