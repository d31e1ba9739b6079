"""CloudWatch Logs' view of the invocation records in SQL: log groups (one per function) with their retention,
the streams the records name, and the records of a group or stream in order, for faas.services.logs."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from faas.model import InvocationRecord
from faas.store.functions import as_utc
from faas.store.tables import invocations, log_groups

_KEY = tuple_(invocations.c.ended_at, invocations.c.request_id)  # the records' order within a group
# A record's own columns: ended_at is stored for that order, and derived from the record (InvocationRecord.ended_at).
RECORD_COLUMNS = [column for column in invocations.c if column.name != "ended_at"]


@dataclasses.dataclass(frozen=True)
class LogGroup:
    function_name: str
    created_at: dt.datetime
    retention_in_days: int | None


@dataclasses.dataclass(frozen=True)
class LogStream:
    name: str
    first_event: dt.datetime
    last_event: dt.datetime


@dataclasses.dataclass(frozen=True)
class RecordRange:
    """Which records of a group a read wants: a stream list or prefix, a time range, and where to resume."""

    streams: tuple[str, ...] | None = None
    stream_prefix: str | None = None
    start: dt.datetime | None = None  # records that ended then or later
    end: dt.datetime | None = None  # records that ended before
    after: tuple[dt.datetime, str] | None = None  # the (ended_at, request_id) to resume from, inclusive
    before: tuple[dt.datetime, str] | None = None  # reading backwards: the key to resume from, inclusive
    backwards: bool = False  # newest first


async def ensure_groups(conn: AsyncConnection, names: set[str], at: dt.datetime) -> None:
    """The groups of `names` exist once the caller's transaction commits (made at `at` when new); several nodes
    may make one at once."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    new = dialect.insert(log_groups).on_conflict_do_nothing(index_elements=[log_groups.c.function_name])
    await conn.execute(new, [{"function_name": name, "created_at": at, "retention_in_days": None}
                             for name in sorted(names)])


class LogStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def groups(self) -> list[LogGroup]:
        """Every log group, by function name."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(log_groups).order_by(log_groups.c.function_name))).all()
        return [_group(row) for row in rows]

    async def group(self, function_name: str) -> LogGroup | None:
        query = select(log_groups).where(log_groups.c.function_name == function_name)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _group(row) if row else None

    async def create_group(self, function_name: str, at: dt.datetime) -> None:
        async with self._engine.begin() as conn:
            await ensure_groups(conn, {function_name}, at)

    async def set_retention(self, function_name: str, days: int | None) -> bool:
        """Whether the group exists (and now keeps its records `days`, or as long as the node's setting)."""
        statement = (update(log_groups).where(log_groups.c.function_name == function_name)
                     .values(retention_in_days=days))
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        return result.rowcount == 1

    async def retained(self) -> list[LogGroup]:
        """The groups with a retention of their own."""
        query = select(log_groups).where(log_groups.c.retention_in_days.is_not(None))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_group(row) for row in rows]

    async def streams(self, function_name: str, prefix: str | None) -> list[LogStream]:
        """The streams a group's records name, each with its first and last record's times."""
        query = (select(invocations.c.log_stream, func.min(invocations.c.ended_at).label("first"),
                        func.max(invocations.c.ended_at).label("last"))
                 .where(invocations.c.function_name == function_name, invocations.c.log_stream.is_not(None))
                 .group_by(invocations.c.log_stream))
        if prefix:
            query = query.where(invocations.c.log_stream.startswith(prefix, autoescape=True))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [LogStream(row.log_stream, as_utc(row.first), as_utc(row.last)) for row in rows]

    async def records(self, function_name: str, scope: RecordRange, limit: int) -> list[InvocationRecord]:
        """At most `limit` of the group's records in `scope`, in order (newest first when reading backwards)."""
        query = select(*RECORD_COLUMNS).where(invocations.c.function_name == function_name,
                                          invocations.c.log_stream.is_not(None))
        if scope.streams is not None:
            query = query.where(invocations.c.log_stream.in_(scope.streams))
        if scope.stream_prefix:
            query = query.where(invocations.c.log_stream.startswith(scope.stream_prefix, autoescape=True))
        if scope.start is not None:
            query = query.where(invocations.c.ended_at >= scope.start)
        if scope.end is not None:
            query = query.where(invocations.c.ended_at < scope.end)
        if scope.after is not None:
            query = query.where(_KEY >= tuple_(*scope.after))
        if scope.before is not None:
            query = query.where(_KEY <= tuple_(*scope.before))
        if scope.backwards:
            query = query.order_by(invocations.c.ended_at.desc(), invocations.c.request_id.desc())
        else:
            query = query.order_by(invocations.c.ended_at, invocations.c.request_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [InvocationRecord(**{**row._mapping, "started_at": as_utc(row.started_at)}) for row in rows]

    async def prune_group_before(self, function_name: str, cutoff: dt.datetime, limit: int) -> int:
        """Delete at most `limit` of the group's records started before `cutoff`, oldest first; how many."""
        oldest = (select(invocations.c.request_id, invocations.c.started_at)
                  .where(and_(invocations.c.function_name == function_name, invocations.c.started_at < cutoff))
                  .order_by(invocations.c.started_at).limit(limit).with_for_update(skip_locked=True))
        key = tuple_(invocations.c.request_id, invocations.c.started_at)
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(invocations).where(key.in_(oldest)))
        return result.rowcount


def _group(row) -> LogGroup:  # type: ignore[no-untyped-def]
    return LogGroup(row.function_name, as_utc(row.created_at), row.retention_in_days)

