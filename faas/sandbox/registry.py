"""The environments alive on this node, by container id (for exit events) and by address on the bridge:
the one place the Runtime API learns which environment a request comes from."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from faas.sandbox.environment import Environment

REGISTRATION_WAIT_S = 5.0


class Registry:
    def __init__(self) -> None:
        self._by_id: dict[str, Environment] = {}
        self._by_ip: dict[str, Environment] = {}
        self._ip_waiters: dict[str, list[tuple[float, asyncio.Future[Environment | None]]]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Environment]:
        return iter(list(self._by_id.values()))

    def get(self, container_id: str) -> Environment | None:
        return self._by_id.get(container_id)

    def register(self, env: Environment, created_at: float) -> None:
        env.created_at = created_at
        self._by_id[env.container_id] = env
        self._by_ip[env.ip] = env  # an address Docker reuses belongs to the newest container
        for arrived, waiter in self._ip_waiters.pop(env.ip, []):
            if not waiter.done():
                waiter.set_result(env if arrived >= created_at else None)

    def forget(self, env: Environment) -> None:
        self._by_id.pop(env.container_id, None)
        if self._by_ip.get(env.ip) is env:
            del self._by_ip[env.ip]

    async def environment_at(self, ip: str) -> Environment | None:
        """The environment a Runtime API request comes from, identified by its address on the bridge.

        Docker hands a dead container's address to the next one at once, so a request is only ever
        attributed to an environment created before the request arrived: a killed container's last
        request, still in flight, must not take the next container's invocation.
        """
        arrived = time.monotonic()
        env = self._by_ip.get(ip)
        if env is not None:
            return env if env.created_at <= arrived else None
        # The runtime can ask before start() has learnt the container's address.
        waiter: asyncio.Future[Environment | None] = asyncio.get_running_loop().create_future()
        self._ip_waiters.setdefault(ip, []).append((arrived, waiter))
        try:
            return await asyncio.wait_for(waiter, REGISTRATION_WAIT_S)
        except asyncio.TimeoutError:
            return None
        finally:
            waiters = self._ip_waiters.get(ip)
            if waiters and (arrived, waiter) in waiters:
                waiters.remove((arrived, waiter))
                if not waiters:
                    del self._ip_waiters[ip]
