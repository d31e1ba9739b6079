"""Execution-role credentials on the fake backend: each environment gets a session of its own with the
platform's endpoint, is retired once its credentials reach half their life, and every session is
revoked when its environment stops or the node closes."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

from faas.model import Function
from faas.sandbox.fake_backend import Context, FakeBackend
from tests.support.pool import function, harness, wait_for


class Sessions:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.issued: list[str] = []
        self.revoked: list[str] = []

    async def issue(self, fn: Function) -> tuple[dict[str, str], str]:
        key = f"ASIA{next(self._ids):012d}"
        self.issued.append(key)
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}, key

    async def revoke(self, key: str) -> None:
        self.revoked.append(key)


def credentials(event: dict, context: Context) -> dict:
    return {"key": context.environment.get("AWS_ACCESS_KEY_ID"),
            "endpoint": context.environment.get("AWS_ENDPOINT_URL"), "container": context.container_id}


async def test_each_environment_gets_its_own_session_and_the_platform_endpoint(tmp_path: Path) -> None:
    sessions = Sessions()
    async with harness(tmp_path, backend=FakeBackend(credentials), issue_credentials=sessions.issue,
                       revoke_credentials=sessions.revoke) as h:
        a, b = await asyncio.gather(h.invoke(function("a")), h.invoke(function("b")))
        seen = [json.loads(a.body), json.loads(b.body)]
        assert sorted(s["key"] for s in seen) == sorted(sessions.issued) and len(sessions.issued) == 2
        assert {s["endpoint"] for s in seen} == {h.pool.platform_endpoint}
        assert h.pool.platform_endpoint.startswith("http://127.0.0.1:")
        assert not any("AWS_ACCESS_KEY_ID" in spec.environment for spec in h.backend.specs)  # not in the spec


async def test_credentials_are_renewed_at_half_life_by_a_new_environment(tmp_path: Path) -> None:
    sessions = Sessions()
    backend = FakeBackend(credentials)
    async with harness(tmp_path, backend=backend, issue_credentials=sessions.issue,
                       revoke_credentials=sessions.revoke, credentials_ttl_s=2) as h:
        fn = function()
        first = json.loads((await h.invoke(fn)).body)
        still = json.loads((await h.invoke(fn)).body)
        assert still == first  # reused inside the half-life
        await asyncio.sleep(1.05)  # past half of 2 s
        renewed = json.loads((await h.invoke(fn)).body)
        assert renewed["container"] != first["container"] and renewed["key"] != first["key"]
        await wait_for(lambda: first["key"] in sessions.revoked)
        assert first["container"] in backend.kills


async def test_an_idle_environment_whose_credentials_age_is_reaped(tmp_path: Path) -> None:
    sessions = Sessions()
    async with harness(tmp_path, backend=FakeBackend(credentials), issue_credentials=sessions.issue,
                       revoke_credentials=sessions.revoke, credentials_ttl_s=0.2, keep_alive_s=60) as h:
        await h.invoke(function())
        await asyncio.sleep(0.15)
        assert await h.pool.reaper.reap() == 1
        await wait_for(lambda: sessions.revoked == sessions.issued)


async def test_closing_the_pool_revokes_every_session(tmp_path: Path) -> None:
    sessions = Sessions()
    async with harness(tmp_path, backend=FakeBackend(credentials), issue_credentials=sessions.issue,
                       revoke_credentials=sessions.revoke) as h:
        await asyncio.gather(h.invoke(function("a")), h.invoke(function("b")))
        assert sessions.revoked == []
    assert sorted(sessions.revoked) == sorted(sessions.issued) and len(sessions.issued) == 2
