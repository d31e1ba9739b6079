"""The operator's view of a node's environments (`GET /faas/v1/environments`)."""

from __future__ import annotations

from collections.abc import Iterable

from faas.sandbox.environment import Environment


def state(env: Environment, idle: set[int]) -> str:
    if env.function is None:
        return "prewarmed"
    return "busy" if env.current is not None else ("idle" if id(env) in idle else "starting")


def describe(envs: Iterable[Environment], idle: Iterable[Environment]) -> list[dict[str, object]]:
    """One row per environment in `envs`; `idle` are those parked waiting for work."""
    parked = {id(env) for env in idle}
    return [{
        "ContainerId": env.container_id,
        "Runtime": env.runtime,
        "MemorySize": env.memory_mb,
        "FunctionName": env.function.name if env.function else None,
        "RevisionId": env.function.revision_id if env.function else None,
        "State": state(env, parked),
        "Invocations": env.invocations,
        "Prewarmed": env.prewarmed,
    } for env in envs]
