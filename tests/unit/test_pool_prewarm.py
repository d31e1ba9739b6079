"""The prewarmed pool on the fake backend: generic environments are started per runtime, handed to the
first fitting zip function (code, memory and environment set on hand-over), refilled, and replaced
when one dies before it is used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faas.errors import ResourceNotReady
from faas.sandbox.fake_backend import Context, FakeBackend
from faas.sandbox.spec import PREWARM_MEMORY_MB
from tests.support.pool import function, harness, wait_for


def reports(event: dict, context: Context) -> dict:
    return {"container": context.container_id, "greeting": context.environment.get("GREETING"),
            "name": context.function_name}


def prewarmed(backend: FakeBackend) -> list:
    return [c for c in backend.running() if "faas.prewarmed" in c.spec.labels and c.invocations == 0]


async def test_a_prewarmed_environment_is_handed_over_and_the_pool_refilled(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))
        assert generic.spec.labels == {"faas.node": "test-node", "faas.prewarmed": "python3.13"}
        assert "GREETING" not in generic.spec.environment  # nothing of a function before hand-over
        assert h.pool.describe()[0]["State"] == "prewarmed"

        fn = function(memory_size=256)
        result = await h.invoke(fn)
        assert json.loads(result.body) == {"container": generic.container_id, "greeting": "hi", "name": "fn"}
        assert generic.memory_mb == 256  # raised from PREWARM_MEMORY_MB on hand-over
        assert (tmp_path / "code" / fn.code_sha256 / "handler.py").exists()
        await h.recorder.flush()
        assert h.records.items[0].cold and h.records.items[0].init_duration_ms is not None

        (refill,) = await wait_for(lambda: prewarmed(backend))  # another generic one takes its place
        assert refill is not generic and refill.memory_mb == PREWARM_MEMORY_MB
        assert len(backend.specs) == 2  # no cold start of the function's own
        row = next(row for row in h.pool.describe() if row["ContainerId"] == generic.container_id)
        assert row["Prewarmed"] is True and row["FunctionName"] == "fn" and row["State"] == "idle"


async def test_a_function_whose_tmp_differs_starts_cold_and_leaves_the_prewarmed_one(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))
        result = await h.invoke(function(ephemeral_storage=1024))
        assert json.loads(result.body)["container"] != generic.container_id
        assert backend.specs[-1].tmp_size_mb == 1024 and backend.specs[-1].labels["faas.function"] == "fn"
        assert prewarmed(backend) == [generic]


async def test_a_prewarmed_environment_that_dies_is_replaced(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        h.pool.prewarm.retry_s = 0.01  # slowly in production, so a runtime that cannot start does not spin
        (generic,) = await wait_for(lambda: prewarmed(backend))
        backend.crash(generic.container_id)
        (replacement,) = await wait_for(lambda: prewarmed(backend))
        assert replacement is not generic


async def test_a_failed_hand_over_stops_the_generic_environment_and_fails_the_invocation(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))

        async def cannot_resize(container_id: str, memory_mb: int) -> None:
            raise ResourceNotReady("The execution environment could not be resized")

        backend.set_memory = cannot_resize  # type: ignore[method-assign]
        with pytest.raises(ResourceNotReady):
            await h.invoke(function(memory_size=512))
        assert generic.container_id in backend.kills and not generic.running
        (refill,) = await wait_for(lambda: prewarmed(backend))
        result = await h.invoke(function())  # 128 MB: no resize needed
        assert json.loads(result.body)["container"] == refill.container_id


async def test_provided_al2_functions_take_from_the_provided_al2023_pool(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    one_image = {"provided.al2023": "faas/provided.al2023:test", "provided.al2": "faas/provided.al2023:test"}
    async with harness(tmp_path, backend=backend, prewarm=1, images=one_image) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))
        assert generic.spec.labels["faas.prewarmed"] == "provided.al2023"  # one pool for the one image

        result = await h.invoke(function(runtime="provided.al2", handler="anything"))
        assert json.loads(result.body)["container"] == generic.container_id
        row = next(row for row in h.pool.describe() if row["ContainerId"] == generic.container_id)
        assert row["Runtime"] == "provided.al2" and row["Prewarmed"] is True
        (refill,) = await wait_for(lambda: prewarmed(backend))
        assert refill.spec.labels["faas.prewarmed"] == "provided.al2023"
