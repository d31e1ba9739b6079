"""Usage rollups and budgets in SQL. Rollups are added to (one upsert per month, function and owner) by
the usage meter as invocations finish, so reading a month reads its few rows, never the raw records."""

from __future__ import annotations

import dataclasses

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from faas.store.tables import budgets, usage_rollups

COUNTERS = ("requests", "errors", "throttles", "cold_starts", "duration_ms", "billed_ms", "mb_ms")
MB_MS_PER_GB_SECOND = 1024 * 1000

Key = tuple[str, str, str]  # month (YYYY-MM), function, owner


@dataclasses.dataclass(slots=True)
class Usage:
    """What a month's invocations added up to; billed memory-time exactly, in MB-milliseconds."""

    requests: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    duration_ms: float = 0.0
    billed_ms: int = 0
    mb_ms: int = 0

    @property
    def gb_seconds(self) -> float:
        return self.mb_ms / MB_MS_PER_GB_SECOND

    def add(self, other: Usage) -> None:
        # Spelled out, not looped over COUNTERS: the invoke path calls this twice per invocation.
        self.requests += other.requests
        self.errors += other.errors
        self.throttles += other.throttles
        self.cold_starts += other.cold_starts
        self.duration_ms += other.duration_ms
        self.billed_ms += other.billed_ms
        self.mb_ms += other.mb_ms

    def subtract(self, other: Usage) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) - getattr(other, name))


@dataclasses.dataclass(frozen=True)
class Budget:
    owner: str
    gb_seconds: float | None  # monthly limits; None: no limit of that kind
    cost: float | None


class UsageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, deltas: dict[Key, Usage], month: str) -> tuple[dict[str, Budget], dict[str, Usage]]:
        """Add the deltas to their rollups and, in the same transaction, read every budget and what each
        budgeted owner has used in `month` (all nodes' use, these deltas included)."""
        async with self._engine.begin() as conn:
            if deltas:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                upsert = dialect.insert(usage_rollups)
                upsert = upsert.on_conflict_do_update(
                    index_elements=["month", "function_name", "owner"],
                    set_={name: usage_rollups.c[name] + upsert.excluded[name] for name in COUNTERS})
                # In key order: nodes upserting the same rows at once lock them in one order, never deadlock.
                await conn.execute(upsert, [
                    {"month": key[0], "function_name": key[1], "owner": key[2], **dataclasses.asdict(usage)}
                    for key, usage in sorted(deltas.items())])
            limits = await _budgets(conn)
            used = await _owner_totals(conn, month, list(limits)) if limits else {}
        return limits, used

    async def month(self, month: str) -> list[tuple[str, str, Usage]]:
        """The month's rollups: (function, owner, usage), by function then owner."""
        query = (select(usage_rollups).where(usage_rollups.c.month == month)
                 .order_by(usage_rollups.c.function_name, usage_rollups.c.owner))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(row.function_name, row.owner, _usage(row)) for row in rows]

    async def budgets(self) -> dict[str, Budget]:
        async with self._engine.connect() as conn:
            return await _budgets(conn)

    async def put_budget(self, budget: Budget) -> None:
        async with self._engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            upsert = dialect.insert(budgets).values(owner=budget.owner, gb_seconds=budget.gb_seconds,
                                                     cost=budget.cost)
            await conn.execute(upsert.on_conflict_do_update(
                index_elements=["owner"], set_={"gb_seconds": budget.gb_seconds, "cost": budget.cost}))

    async def delete_budget(self, owner: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(budgets).where(budgets.c.owner == owner))
        return result.rowcount > 0

    async def owners(self) -> set[str]:
        """Every owner that has used anything, in any month."""
        async with self._engine.connect() as conn:
            return set((await conn.execute(select(usage_rollups.c.owner).distinct())).scalars())


async def _budgets(conn: AsyncConnection) -> dict[str, Budget]:
    rows = (await conn.execute(select(budgets))).all()
    return {row.owner: Budget(row.owner, row.gb_seconds, row.cost) for row in rows}


async def _owner_totals(conn: AsyncConnection, month: str, owners: list[str]) -> dict[str, Usage]:
    c = usage_rollups.c
    query = (select(c.owner, *[func.sum(c[name]).label(name) for name in COUNTERS])
             .where(c.month == month, c.owner.in_(owners)).group_by(c.owner))
    rows = (await conn.execute(query)).all()
    return {row.owner: _usage(row) for row in rows}


def _usage(row: object) -> Usage:
    # PostgreSQL sums bigints into numerics (Decimal): back to the counters' own types.
    return Usage(**{name: (float if name == "duration_ms" else int)(getattr(row, name)) for name in COUNTERS})
