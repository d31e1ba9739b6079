"""The Docker engine as a Backend: blocking SDK calls run in threads, one thread follows container events."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from faas.errors import ResourceNotReady, StartupError
from faas.sandbox import repositories
from faas.sandbox.backend import Exited, Network, Started
from faas.sandbox.output import OUTPUT_PATH
from faas.sandbox.spec import ContainerSpec, cpu_shares, vcpus

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Docker API calls in flight at once, each on a thread and a connection of its own: a burst of cold starts
# runs its creates and starts side by side (the event loop's default executor has only cores + 4 threads,
# shared with everything else, and the SDK keeps 10 connections).
DOCKER_THREADS = 64
CPU_PERIOD_US = 100_000  # the CFS period Docker's --cpus uses; the quota is a share of it
# The container's entry with its stdout and stderr sent to the platform's pipe. A shell is the one thing it
# needs of the image (every runtime image has one); an image without /bin/sh starts unwrapped instead.
OUTPUT_WRAPPER = ["/bin/sh", "-c", f'exec "$@" >{OUTPUT_PATH} 2>&1', "faas-output"]


def connect() -> docker.DockerClient:
    """A client for the local engine, or a start-up error that says how to start one."""
    try:
        client = docker.from_env(timeout=120, max_pool_size=DOCKER_THREADS)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise StartupError(
            "Docker is not running or not reachable (" + exc.__class__.__name__ + "). Install and start it: "
            "`apt-get install -y docker.io && dockerd &` (or `systemctl start docker`), "
            "or run `deploy/dev.sh serve`, which does both."
        ) from exc


def memory_peak_file(container_id: str) -> Path | None:
    """Peak memory of a container, from cgroup v1 or v2, whichever this host has."""
    for candidate in (
        CGROUP_ROOT / "memory" / "docker" / container_id / "memory.max_usage_in_bytes",
        CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope" / "memory.peak",
        CGROUP_ROOT / "docker" / container_id / "memory.peak",
    ):
        if candidate.exists():
            return candidate
    return None


def cpu_quota_us(cpus: float, host_cpus: int | None) -> int:
    """The CFS quota per CPU_PERIOD_US for `cpus` vCPUs; more than the host has would be no limit at all."""
    if host_cpus:
        cpus = min(cpus, host_cpus)
    return int(cpus * CPU_PERIOD_US)


def entry_argv(spec: ContainerSpec, image_config: dict) -> list[str]:
    """The process Docker would start for `spec`: its entrypoint and command over the image's, by Docker's
    rule (a new entrypoint drops the image's command)."""
    entrypoint = spec.entrypoint if spec.entrypoint is not None else image_config.get("Entrypoint") or []
    if spec.command:
        command = spec.command
    else:
        command = [] if spec.entrypoint else image_config.get("Cmd") or []
    return [*entrypoint, *command]


def create_kwargs(spec: ContainerSpec, network: str, host_cpus: int | None = None,
                  entry: list[str] | None = None) -> dict:
    """The Docker API's create arguments for a spec: every limit of the sandbox contract. With `entry`
    (the image's process, see entry_argv) the container's stdout and stderr go to `spec.output_pipe`."""
    binds = {spec.code_dir: {"bind": "/var/task", "mode": "ro"}} if spec.code_dir else {}
    entrypoint, command = spec.entrypoint, spec.command
    if spec.output_pipe and entry:
        # Read-only is enough: writing to a FIFO changes no file system.
        binds[spec.output_pipe] = {"bind": OUTPUT_PATH, "mode": "ro"}
        entrypoint, command = OUTPUT_WRAPPER, entry
    return {
        "image": spec.image,
        "entrypoint": entrypoint,
        "command": command,
        "working_dir": spec.working_dir,
        "environment": spec.environment,
        "labels": spec.labels,
        "user": spec.user,
        "host_config": {
            "binds": binds or None,
            "mem_limit": spec.memory_mb * 1024 * 1024,
            "memswap_limit": spec.memory_mb * 1024 * 1024,  # no swap: over the limit is out of memory
            "cpu_shares": spec.cpu_shares,  # the weight under contention ...
            "cpu_period": CPU_PERIOD_US,  # ... and a hard cap even when the host is idle
            "cpu_quota": cpu_quota_us(spec.cpus, host_cpus),
            "pids_limit": spec.pids_limit,
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={spec.tmp_size_mb}m,mode=1777"},
            "ipc_mode": "private",
            "shm_size": spec.shm_size_mb * 1024 * 1024,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "network_mode": network,
            "auto_remove": True,
            # A tiny init as pid 1 reaps orphaned processes and lets a killed runtime end the container.
            "init": True,
        },
    }


class DockerBackend:
    def __init__(self, client: docker.DockerClient, *, network: str, node_id: str) -> None:
        self._client = client
        self._api = client.api
        self._network = network
        self._node_id = node_id
        self._events = None
        self._watcher: threading.Thread | None = None
        self._host_cpus: int | None = None  # the engine's, learnt at the first start
        self._runtime_images: dict[str, dict] = {}  # `docker inspect` of the runtime images, by reference
        self._has_shell: dict[str, bool] = {}  # by image id (image functions): whether their output can be redirected
        self._threads = ThreadPoolExecutor(DOCKER_THREADS, thread_name_prefix="faas-docker")

    def _call(self, blocking: Callable[..., object], *args: object, **kwargs: object) -> asyncio.Future:
        """Run a blocking SDK call on the backend's own threads."""
        return asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(blocking, *args, **kwargs))

    async def prepare(self) -> Network:
        return await self._call(self._ensure_network)

    async def architecture(self) -> str:
        try:
            info = await self._call(self._client.info)
        except docker.errors.DockerException as exc:
            raise StartupError(f"cannot ask the Docker engine for its architecture: {exc}") from exc
        return str(info.get("Architecture") or "")

    def _ensure_network(self) -> Network:
        try:
            # The engine's name filter matches parts of names too: "faas" would find "faas-test".
            found = [n for n in self._client.networks.list(names=[self._network]) if n.name == self._network]
            network = found[0] if found else self._client.networks.create(
                self._network,
                driver="bridge",
                # Environments must not reach each other, only the platform.
                options={"com.docker.network.bridge.enable_icc": "false"},
                labels={"faas": "1"},
            )
            network.reload()
            configs = network.attrs.get("IPAM", {}).get("Config") or []
            gateway = next((c["Gateway"] for c in configs if c.get("Gateway")), None)
        except docker.errors.DockerException as exc:
            raise StartupError(f"cannot prepare the Docker network {self._network!r}: {exc}") from exc
        if not gateway:
            raise StartupError(f"the Docker network {self._network!r} has no IPv4 gateway")
        options = network.attrs.get("Options") or {}
        interface = options.get("com.docker.network.bridge.name") or "br-" + network.id[:12]
        return Network(gateway=gateway, interface=interface, ipv6=bool(network.attrs.get("EnableIPv6")))

    async def start(self, spec: ContainerSpec) -> Started:
        work = self._call(self._start, spec)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            await self._kill_when_started(work)
            raise
        except docker.errors.ImageNotFound as exc:
            raise ResourceNotReady(f"The image {spec.image} is not on this node") from exc
        except docker.errors.DockerException as exc:
            log.error("starting an environment failed: %s", exc)
            raise ResourceNotReady("The execution environment could not be started") from exc

    async def _kill_when_started(self, work: asyncio.Future[Started]) -> None:
        """A cancelled start (the pool closing while it prewarms) does not stop its thread, which may still
        create and start the container: nobody would own it then, and it would run on after the node stops.
        Wait for the thread, and kill what it started."""
        try:
            started = await work
        except Exception:
            return  # it started nothing
        await self.kill(started.container_id)

    def _start(self, spec: ContainerSpec) -> Started:
        if self._host_cpus is None:  # once, on the first start
            self._host_cpus = int(self._client.info().get("NCPU") or 0) or None
        entry = self._entry(spec) if spec.output_pipe else None
        kwargs = create_kwargs(spec, self._network, self._host_cpus, entry)
        host_config = self._api.create_host_config(**kwargs.pop("host_config"))
        container = self._api.create_container(host_config=host_config, **kwargs)
        container_id = container["Id"]
        self._api.start(container_id)
        info = self._api.inspect_container(container_id)
        ip = info["NetworkSettings"]["Networks"][self._network]["IPAddress"]
        return Started(container_id=container_id, ip=ip, memory_peak_file=memory_peak_file(container_id))

    def _entry(self, spec: ContainerSpec) -> list[str] | None:
        """The image's process, to start under OUTPUT_WRAPPER; None for an image without /bin/sh, which starts
        as it is (its output then stays in Docker's log). A zip environment's image is one of the platform's
        runtime images, built on the Debian base (so it has /bin/sh) and tagged by its recipe's hash (so it
        never changes): inspected once. An image function's tag may move: inspected at every start, and
        looked into once per image id."""
        if spec.code_dir is not None:
            image = self._runtime_images.get(spec.image)
            if image is None:
                image = self._runtime_images[spec.image] = self._api.inspect_image(spec.image)
            return entry_argv(spec, image.get("Config") or {})
        image = self._api.inspect_image(spec.image)
        has_shell = self._has_shell.get(image["Id"])
        if has_shell is None:
            has_shell = self._has_shell[image["Id"]] = self._image_has_shell(image["Id"])
            if not has_shell:
                log.warning("image %s has no /bin/sh: what its functions write to stdout and stderr outside the "
                            "Runtime API does not reach their logs", spec.image)
        return entry_argv(spec, image.get("Config") or {}) if has_shell else None

    def _image_has_shell(self, image_id: str) -> bool:
        # A container that is created and never started is the engine's one way to look at an image's files.
        probe = self._api.create_container(image_id, entrypoint=["/bin/sh"], network_disabled=True,
                                           labels={"faas.node": self._node_id})["Id"]
        try:
            stream, _ = self._api.get_archive(probe, "/bin/sh")
            for _ in stream:  # a few bytes: the shell, or the link to it
                pass
            return True
        except docker.errors.NotFound:
            return False
        finally:
            self._api.remove_container(probe, force=True)

    async def set_memory(self, container_id: str, memory_mb: int) -> None:
        limit = memory_mb * 1024 * 1024
        try:
            await self._call(self._api.update_container, container_id, mem_limit=limit, memswap_limit=limit,
                                    cpu_shares=cpu_shares(memory_mb), cpu_period=CPU_PERIOD_US,
                                    cpu_quota=cpu_quota_us(vcpus(memory_mb), self._host_cpus))
        except docker.errors.DockerException as exc:
            raise ResourceNotReady("The execution environment could not be resized") from exc

    async def kill(self, container_id: str) -> None:
        await self._call(self._kill, container_id)

    def _kill(self, container_id: str) -> None:
        try:
            self._api.kill(container_id)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "is not running" not in str(exc):
                log.warning("killing container %s failed: %s", container_id[:12], exc)

    async def remove_leftovers(self) -> int:
        return await self._call(self._remove_leftovers)

    def _remove_leftovers(self) -> int:
        leftovers = self._api.containers(all=True, filters={"label": f"faas.node={self._node_id}"})
        for container in leftovers:
            try:
                self._api.remove_container(container["Id"], force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                # Containers are auto-removed: one whose removal Docker already started (409) is going anyway.
                if exc.status_code != 409:
                    raise
        return len(leftovers)

    async def image_exists(self, ref: str) -> bool:
        def check() -> bool:
            try:
                found = self._api.inspect_image(ref)
            except docker.errors.ImageNotFound:
                return False
            return repositories.is_named(ref, found.get("RepoTags") or [], found.get("RepoDigests") or [])

        return await self._call(check)

    def watch(self, on_exit: Callable[[Exited], None]) -> None:
        loop = asyncio.get_running_loop()
        self._events = self._api.events(
            decode=True,
            filters={"type": "container", "label": f"faas.node={self._node_id}", "event": ["die", "oom"]},
        )
        oom: set[str] = set()

        def follow() -> None:
            try:
                for event in self._events:
                    container_id = event.get("id", "")
                    if event.get("status") == "oom":
                        oom.add(container_id)
                        continue
                    exit_code = int(event.get("Actor", {}).get("Attributes", {}).get("exitCode", -1))
                    exited = Exited(container_id, exit_code, container_id in oom)
                    oom.discard(container_id)
                    loop.call_soon_threadsafe(on_exit, exited)
            except Exception as exc:  # the stream ends when closed at shutdown
                log.debug("docker event stream ended: %s", exc)

        self._watcher = threading.Thread(target=follow, name="faas-docker-events", daemon=True)
        self._watcher.start()

    async def close(self) -> None:
        if self._events is not None:
            self._events.close()
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.join, 5)
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._client.close()
