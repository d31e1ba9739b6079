"""A pool on the in-memory fake backend, with the real Runtime API listening on loopback: the whole
sandbox layer without Docker, for unit tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from faas.listener import bind

from faas.dispatch.concurrency import Limiter
from faas.dispatch.invoker import Invoker
from faas.dispatch.recorder import Recorder
from faas.model import Function
from faas.sandbox import runtime_api
from faas.sandbox.codecache import CodeCache
from faas.sandbox.fake_backend import FakeBackend
from faas.sandbox.pool import Pool
from faas.sandbox.registry import Registry

IMAGES = {"python3.13": "faas/python3.13:test"}


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


ZIP = code_zip()
ZIP_SHA256 = hashlib.sha256(ZIP).hexdigest()


def function(name: str = "fn", **changes: Any) -> Function:
    fn = Function(name=name, runtime="python3.13", handler="handler.handler", role="", description="",
                  memory_size=128, timeout=3, ephemeral_storage=512, environment={"GREETING": "hi"},
                  package_type="Zip", code_sha256=ZIP_SHA256, code_size=len(ZIP), image_uri=None,
                  image_config={}, revision_id="r1", last_modified=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    return fn.replace(**changes)


class Records:
    """A recorder's store that keeps what it is given."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    async def add_many(self, items: list[Any]) -> None:
        self.items.extend(items)


@dataclasses.dataclass
class Harness:
    pool: Pool
    backend: FakeBackend
    invoker: Invoker
    limiter: Limiter
    recorder: Recorder
    records: Records

    async def invoke(self, fn: Function, event: Any = None) -> Any:
        return await self.invoker.invoke(fn, json.dumps(event if event is not None else {}).encode())


async def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll `predicate` until it is truthy (and return it), failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, *, backend: FakeBackend | None = None, node_limit: int = 10,
                  images: dict[str, str] | None = None, **pool_options: Any) -> AsyncIterator[Harness]:
    """The Runtime API listens first, then the pool is built knowing its address (as `faas serve` does)."""
    backend = backend or FakeBackend()
    registry = Registry()
    host = await backend.prepare()
    server = runtime_api.serve(registry, (bind(host, 0),), shutdown_timeout=0.1)
    await server.start()
    port = server.port

    async def load(sha256: str) -> bytes:
        assert sha256 == ZIP_SHA256
        return ZIP

    options: dict[str, Any] = {"keep_alive_s": 60.0, "max_environments": node_limit, "prewarm": 0}
    options.update(pool_options)
    pool = Pool(backend, CodeCache(tmp_path / "code", load), images=dict(images or IMAGES), region="us-east-1",
                node_id="test-node", slots=tmp_path / "slots", runtime_api=f"{host}:{port}",
                platform_endpoint=f"http://{host}:{port + 1}", registry=registry, **options)
    records = Records()
    recorder = Recorder(records)
    limiter = Limiter(node_limit)
    invoker = Invoker(pool, recorder, limiter, lambda name: f"arn:aws:lambda:us-east-1:0:function:{name}")
    pool.start()
    try:
        yield Harness(pool, backend, invoker, limiter, recorder, records)
    finally:
        await pool.close()
        await backend.close()
        await server.stop()
