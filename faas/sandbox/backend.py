"""The small interface every container engine implements (Docker now; another engine later)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from faas.sandbox.spec import ContainerSpec


@dataclasses.dataclass(frozen=True)
class Started:
    container_id: str
    ip: str
    memory_peak_file: Path | None  # where the engine keeps the container's peak memory, if readable


@dataclasses.dataclass(frozen=True)
class Network:
    gateway: str  # the address environments reach the platform at
    interface: str  # the host's side of the network, where the firewall matches environments' traffic
    ipv6: bool  # whether environments have IPv6, which the firewall does not cover


@dataclasses.dataclass(frozen=True)
class Exited:
    container_id: str
    exit_code: int
    oom_killed: bool


class Backend(Protocol):
    async def prepare(self) -> Network:
        """Get the network ready; return where environments reach the platform and how to find their traffic."""

    async def architecture(self) -> str:
        """The engine's machine architecture as `docker info` names it (x86_64, aarch64, ...)."""

    async def start(self, spec: ContainerSpec) -> Started: ...

    async def kill(self, container_id: str) -> None: ...

    async def set_memory(self, container_id: str, memory_mb: int) -> None:
        """Change a running container's memory limit (and the CPU weight and quota that follow it)."""

    async def remove_leftovers(self) -> int:
        """Remove containers a previous run of this node left behind; return how many."""

    def watch(self, on_exit: Callable[[Exited], None]) -> None:
        """Call `on_exit` (on the event loop) whenever one of this node's containers stops."""

    async def image_exists(self, ref: str) -> bool: ...

    async def close(self) -> None: ...
