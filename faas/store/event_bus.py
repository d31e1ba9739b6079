"""EventBridge's buses, rules and targets in SQL. Each check that guards a change (a rule exists before its
targets are put, a rule has no targets when it is deleted, a bus has no rules) runs in the transaction that
makes the change, so two callers cannot slip a target or a rule past it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import event_buses, event_rules, event_targets, work_items


@dataclasses.dataclass(frozen=True)
class Bus:
    name: str
    description: str
    created_at: dt.datetime
    modified_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Rule:
    bus: str
    name: str
    event_pattern: str | None
    schedule_expression: str | None
    state: str
    description: str
    role_arn: str
    created_at: dt.datetime
    modified_at: dt.datetime
    next_due: dt.datetime | None = None  # a schedule rule's next due time not yet fired


@dataclasses.dataclass(frozen=True)
class RuleTarget:
    id: str
    arn: str
    definition: dict[str, Any]  # the Target as the API answers it: Id, Arn, RoleArn, Input, InputPath, ...


class Outcome(enum.Enum):
    DONE = "done"
    MISSING = "missing"
    IN_USE = "in use"  # a rule with targets, a bus with rules
    OVER_LIMIT = "over limit"


def _bus(row) -> Bus:  # type: ignore[no-untyped-def]
    return Bus(row.name, row.description, as_utc(row.created_at), as_utc(row.modified_at))


def _rule(row) -> Rule:  # type: ignore[no-untyped-def]
    return Rule(row.bus, row.name, row.event_pattern, row.schedule_expression, row.state, row.description,
                row.role_arn, as_utc(row.created_at), as_utc(row.modified_at),
                as_utc(row.next_due) if row.next_due is not None else None)


def _target(row) -> RuleTarget:  # type: ignore[no-untyped-def]
    return RuleTarget(row.target_id, row.arn, json.loads(row.definition))


class EventBusStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- buses ---------------------------------------------------------------------------------------

    async def add_bus(self, bus: Bus) -> bool:
        """False when a bus of that name exists."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(event_buses).values(**dataclasses.asdict(bus)))
        except IntegrityError:
            return False
        return True

    async def bus(self, name: str) -> Bus | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(event_buses).where(event_buses.c.name == name))).first()
        return _bus(row) if row is not None else None

    async def buses(self, *, prefix: str = "", after: str = "", limit: int) -> list[Bus]:
        """Buses in name order from the first after `after` whose name starts with `prefix`."""
        query = (select(event_buses).where(event_buses.c.name > after, event_buses.c.name.startswith(prefix,
                                                                                                      autoescape=True))
                 .order_by(event_buses.c.name).limit(limit))
        async with self._engine.connect() as conn:
            return [_bus(row) for row in (await conn.execute(query)).all()]

    async def delete_bus(self, name: str) -> Outcome:
        async with self._engine.begin() as conn:
            if await self._count(conn, event_rules, event_rules.c.bus == name):
                return Outcome.IN_USE
            result = await conn.execute(delete(event_buses).where(event_buses.c.name == name))
        return Outcome.DONE if result.rowcount == 1 else Outcome.MISSING

    # -- rules ---------------------------------------------------------------------------------------

    async def put_rule(self, rule: Rule) -> Outcome:
        """Create or replace a rule (a replaced rule keeps its creation time and targets); MISSING when its
        bus does not exist."""
        values = dataclasses.asdict(rule)
        async with self._engine.begin() as conn:
            if not await self._count(conn, event_buses, event_buses.c.name == rule.bus):
                return Outcome.MISSING
            changed = {key: value for key, value in values.items() if key not in ("bus", "name", "created_at")}
            result = await conn.execute(update(event_rules).where(event_rules.c.bus == rule.bus,
                                                                  event_rules.c.name == rule.name).values(**changed))
            if result.rowcount == 0:
                await conn.execute(insert(event_rules).values(**values))
        return Outcome.DONE

    async def rule(self, bus: str, name: str) -> Rule | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(event_rules).where(event_rules.c.bus == bus,
                                                                event_rules.c.name == name))).first()
        return _rule(row) if row is not None else None

    async def rules(self, bus: str, *, prefix: str = "", after: str = "", limit: int | None = None) -> list[Rule]:
        query = (select(event_rules).where(event_rules.c.bus == bus, event_rules.c.name > after,
                                           event_rules.c.name.startswith(prefix, autoescape=True))
                 .order_by(event_rules.c.name))
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as conn:
            return [_rule(row) for row in (await conn.execute(query)).all()]

    async def set_state(self, bus: str, name: str, state: str, now: dt.datetime) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(event_rules).where(event_rules.c.bus == bus, event_rules.c.name == name)
                                        .values(state=state, modified_at=now))
        return result.rowcount == 1

    async def delete_rule(self, bus: str, name: str, *, force: bool = False) -> Outcome:
        """Refused (IN_USE) while the rule has targets, unless forced, which removes them with it."""
        async with self._engine.begin() as conn:
            of_rule = (event_targets.c.bus == bus) & (event_targets.c.rule == name)
            if await self._count(conn, event_targets, of_rule):
                if not force:
                    return Outcome.IN_USE
                await conn.execute(delete(event_targets).where(of_rule))
            result = await conn.execute(delete(event_rules).where(event_rules.c.bus == bus,
                                                                  event_rules.c.name == name))
        return Outcome.DONE if result.rowcount == 1 else Outcome.MISSING

    # -- targets -------------------------------------------------------------------------------------

    async def put_targets(self, bus: str, rule: str, targets: list[RuleTarget], *, most: int) -> Outcome:
        """Add or replace targets by Id; refused (OVER_LIMIT) when the rule would then have more than `most`."""
        async with self._engine.begin() as conn:
            if not await self._count(conn, event_rules, (event_rules.c.bus == bus) & (event_rules.c.name == rule)):
                return Outcome.MISSING
            of_rule = (event_targets.c.bus == bus) & (event_targets.c.rule == rule)
            existing = set((await conn.execute(select(event_targets.c.target_id).where(of_rule))).scalars())
            if len(existing | {target.id for target in targets}) > most:
                return Outcome.OVER_LIMIT
            ids = [target.id for target in targets]
            await conn.execute(delete(event_targets).where(of_rule, event_targets.c.target_id.in_(ids)))
            if targets:
                await conn.execute(insert(event_targets), [
                    {"bus": bus, "rule": rule, "target_id": target.id, "arn": target.arn,
                     "definition": json.dumps(target.definition)} for target in targets])
        return Outcome.DONE

    async def remove_targets(self, bus: str, rule: str, ids: list[str]) -> set[str] | None:
        """The ids removed; None when the rule does not exist."""
        async with self._engine.begin() as conn:
            if not await self._count(conn, event_rules, (event_rules.c.bus == bus) & (event_rules.c.name == rule)):
                return None
            of_rule = (event_targets.c.bus == bus) & (event_targets.c.rule == rule)
            found = set((await conn.execute(select(event_targets.c.target_id)
                                            .where(of_rule, event_targets.c.target_id.in_(ids)))).scalars())
            await conn.execute(delete(event_targets).where(of_rule, event_targets.c.target_id.in_(ids)))
        return found

    async def targets(self, bus: str, rule: str) -> list[RuleTarget]:
        query = (select(event_targets).where(event_targets.c.bus == bus, event_targets.c.rule == rule)
                 .order_by(event_targets.c.target_id))
        async with self._engine.connect() as conn:
            return [_target(row) for row in (await conn.execute(query)).all()]

    async def routes(self, bus: str) -> list[tuple[Rule, list[RuleTarget]]]:
        """The bus's enabled pattern rules that have targets, each with its targets: what PutEvents matches."""
        query = (select(event_rules, event_targets.c.target_id, event_targets.c.arn, event_targets.c.definition)
                 .join(event_targets, (event_targets.c.bus == event_rules.c.bus)
                       & (event_targets.c.rule == event_rules.c.name))
                 .where(event_rules.c.bus == bus, event_rules.c.state == "ENABLED",
                        event_rules.c.event_pattern.is_not(None))
                 .order_by(event_rules.c.name, event_targets.c.target_id))
        routes: dict[str, tuple[Rule, list[RuleTarget]]] = {}
        async with self._engine.connect() as conn:
            for row in (await conn.execute(query)).all():
                rule, targets = routes.setdefault(row.name, (_rule(row), []))
                targets.append(_target(row))
        return list(routes.values())

    # -- schedule rules --------------------------------------------------------------------------------

    async def due(self, now: dt.datetime, *, limit: int = 100) -> list[Rule]:
        """Enabled schedule rules whose next due time has come."""
        query = (select(event_rules).where(event_rules.c.schedule_expression.is_not(None),
                                           event_rules.c.state == "ENABLED", event_rules.c.next_due <= now)
                 .order_by(event_rules.c.next_due).limit(limit))
        async with self._engine.connect() as conn:
            return [_rule(row) for row in (await conn.execute(query)).all()]

    async def fire(self, rule: Rule, next_due: dt.datetime | None, kind: str,
                   deliveries: list[tuple[str, bytes, dt.datetime]]) -> bool:
        """Fire `rule`'s due time `rule.next_due` once: move its next due time on from the value read and write
        the deliveries, (key, payload, due_at) each, as leased work of `kind`, in one transaction. False (and
        nothing written) when another node, or a change of the rule, moved it first."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        async with self._engine.begin() as conn:
            moved = await conn.execute(update(event_rules).where(
                event_rules.c.bus == rule.bus, event_rules.c.name == rule.name, event_rules.c.next_due == rule.next_due,
                event_rules.c.schedule_expression == rule.schedule_expression).values(next_due=next_due))
            if moved.rowcount != 1:
                return False
            if deliveries:
                await conn.execute(
                    dialect.insert(work_items).on_conflict_do_nothing(index_elements=[work_items.c.kind, work_items.c.key]),
                    [{"kind": kind, "key": key, "group_key": None, "payload": payload, "created_at": due_at,
                      "due_at": due_at, "attempts": 0, "owner": None} for key, payload, due_at in deliveries])
        return True

    @staticmethod
    async def _count(conn: AsyncConnection, table, condition) -> int:  # type: ignore[no-untyped-def]
        return (await conn.execute(select(func.count()).select_from(table).where(condition))).scalar_one()
