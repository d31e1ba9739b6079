"""EventBridge's buses, rules and targets in SQL (faas.store.event_bus) on real SQLite and real PostgreSQL:
the default bus is there from the migration, names page in order, and the guards (a rule's bus exists, a
rule with targets or a bus with rules is kept, at most N targets a rule) hold inside the change."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from faas.store.event_bus import Bus, EventBusStore, Outcome, Rule, RuleTarget
from faas.store.work import WorkStore

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(engine) -> EventBusStore:
    return EventBusStore(engine)


def rule(name: str, bus: str = "default", **changes) -> Rule:  # type: ignore[no-untyped-def]
    base = Rule(bus=bus, name=name, event_pattern='{"source": ["a"]}', schedule_expression=None, state="ENABLED",
                description="", role_arn="", created_at=T0, modified_at=T0)
    return dataclasses.replace(base, **changes)


def target(target_id: str) -> RuleTarget:
    arn = "arn:aws:sqs:us-east-1:000000000000:q"
    return RuleTarget(target_id, arn, {"Id": target_id, "Arn": arn, "InputPath": "$.detail"})


async def test_the_default_bus_exists_and_buses_page_by_name(store):
    assert (await store.bus("default")).name == "default"
    for name in ("b", "a", "c"):
        assert await store.add_bus(Bus(name, f"bus {name}", T0, T0))
    assert not await store.add_bus(Bus("a", "again", T0, T0))
    assert (await store.bus("a")) == Bus("a", "bus a", T0, T0)
    assert [b.name for b in await store.buses(limit=10)] == ["a", "b", "c", "default"]
    assert [b.name for b in await store.buses(after="a", limit=2)] == ["b", "c"]
    assert [b.name for b in await store.buses(prefix="d", limit=10)] == ["default"]


async def test_rules_are_put_replaced_listed_and_need_their_bus(store):
    assert await store.put_rule(rule("r1")) is Outcome.DONE
    assert await store.put_rule(rule("r1", bus="nobus")) is Outcome.MISSING
    later = T0 + dt.timedelta(minutes=1)
    assert await store.put_rule(rule("r1", state="DISABLED", modified_at=later)) is Outcome.DONE
    assert await store.rule("default", "r1") == rule("r1", state="DISABLED", modified_at=later)
    await store.put_rule(rule("r0"))
    await store.put_rule(rule("x"))
    assert [r.name for r in await store.rules("default", prefix="r")] == ["r0", "r1"]
    assert [r.name for r in await store.rules("default", after="r0", limit=1)] == ["r1"]
    assert await store.set_state("default", "r1", "ENABLED", later)
    assert not await store.set_state("default", "nope", "ENABLED", later)


async def test_targets_are_limited_replaced_by_id_and_guard_the_rule(store):
    await store.put_rule(rule("r"))
    assert await store.put_targets("default", "r", [target("a"), target("b")], most=3) is Outcome.DONE
    assert await store.put_targets("default", "r", [target("b"), target("c")], most=3) is Outcome.DONE
    assert await store.put_targets("default", "r", [target("d")], most=3) is Outcome.OVER_LIMIT
    assert await store.put_targets("default", "gone", [target("a")], most=3) is Outcome.MISSING
    assert [t.id for t in await store.targets("default", "r")] == ["a", "b", "c"]
    assert (await store.targets("default", "r"))[0] == target("a")
    assert await store.delete_rule("default", "r") is Outcome.IN_USE
    assert await store.remove_targets("default", "r", ["a", "z"]) == {"a"}
    assert await store.remove_targets("default", "gone", ["a"]) is None
    assert await store.delete_rule("default", "r", force=True) is Outcome.DONE
    assert await store.targets("default", "r") == []
    assert await store.delete_rule("default", "r") is Outcome.MISSING


async def test_a_bus_with_rules_is_kept_and_routes_are_enabled_rules_with_targets(store):
    await store.add_bus(Bus("shop", "", T0, T0))
    await store.put_rule(rule("on", bus="shop"))
    await store.put_rule(rule("off", bus="shop", state="DISABLED"))
    await store.put_rule(rule("empty", bus="shop"))
    await store.put_targets("shop", "on", [target("t1"), target("t2")], most=5)
    await store.put_targets("shop", "off", [target("t1")], most=5)
    routes = await store.routes("shop")
    assert [(r.name, [t.id for t in targets]) for r, targets in routes] == [("on", ["t1", "t2"])]
    assert await store.delete_bus("shop") is Outcome.IN_USE
    for name in ("on", "off", "empty"):
        await store.delete_rule("shop", name, force=True)
    assert await store.delete_bus("shop") is Outcome.DONE
    assert await store.delete_bus("shop") is Outcome.MISSING


async def test_a_schedule_rules_due_time_fires_once_whoever_tries(store, engine):
    due = T0 + dt.timedelta(minutes=1)
    scheduled = rule("tick", event_pattern=None, schedule_expression="rate(1 minute)", next_due=due)
    await store.put_rule(scheduled)
    await store.put_rule(rule("later", event_pattern=None, schedule_expression="rate(1 minute)",
                              next_due=due + dt.timedelta(hours=1)))
    assert [r.name for r in await store.due(due)] == ["tick"]
    [seen] = await store.due(due)
    # Two nodes read the same due time and try to fire it: one wins, and only its deliveries are written.
    nxt = due + dt.timedelta(minutes=1)
    results = [await store.fire(seen, nxt, "events-test", [(f"node{n}", b"x", due)]) for n in (1, 2)]
    assert results == [True, False]
    work = WorkStore(engine)
    claimed = await work.claim("events-test", "me", lease_s=60, limit=10, now=nxt)
    assert [item.key for item in claimed] == ["node1"]
    assert (await store.rule("default", "tick")).next_due == nxt
    assert await store.due(due) == []
    # A disabled schedule rule is not due.
    await store.set_state("default", "tick", "DISABLED", nxt)
    assert await store.due(nxt) == []
