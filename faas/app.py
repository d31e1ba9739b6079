"""The one place that wires the platform together: store, keys, Docker, pool, invoker and HTTP apps."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from faas.api import concurrency as concurrency_routes
from faas.api import functions as function_routes
from faas.api import invoke as invoke_routes
from faas.api import native as native_routes
from faas.api.context import SERVICES, Services
from faas.api.middleware import lambda_errors
from faas.dispatch.concurrency import Limiter
from faas.dispatch.invoker import Invoker
from faas.dispatch.recorder import Recorder
from faas.sandbox import images, runtime_api
from faas.sandbox.codecache import CodeCache
from faas.sandbox.docker_backend import DockerBackend, connect
from faas.sandbox.pool import Pool
from faas.sandbox.spec import PIDS_LIMIT
from faas.security.admin import ensure_admin_credentials
from faas.security.masterkey import MasterKey
from faas.services.functions import FunctionService
from faas.settings import Settings
from faas.store.db import create_engine, migrate
from faas.store.functions import FunctionStore
from faas.store.invocations import InvocationStore
from faas.store.keys import KeyStore

log = logging.getLogger(__name__)

# Base64 of a 50 MB zip plus the JSON around it; each route applies its own, smaller limit.
MAX_REQUEST_BYTES = 70 * 1024 * 1024


@dataclasses.dataclass
class Platform:
    settings: Settings
    api: web.Application
    runtime: web.Application
    runtime_host: str
    pool: Pool
    invoker: Invoker
    recorder: Recorder
    backend: DockerBackend
    engine: object

    async def close(self) -> None:
        await self.pool.close()
        await self.recorder.close()
        await self.backend.close()
        await self.engine.dispose()  # type: ignore[attr-defined]


def node_id(data_dir: Path) -> str:
    """A stable id for this node, so a restart finds the containers its previous run left."""
    path = data_dir / "node-id"
    if not path.exists():
        path.write_text(secrets.token_hex(6) + "\n")
    return path.read_text().strip()


def _check_pid_room(settings: Settings, progress: Callable[[str], None]) -> None:
    """Every environment may run PIDS_LIMIT processes: warn when the host could run out of pids first."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return
    if settings.max_concurrency * PIDS_LIMIT > pid_max:
        progress(f"warning: kernel.pid_max is {pid_max}, but {settings.max_concurrency} environments may run "
                 f"{PIDS_LIMIT} processes each; raise it (sysctl -w kernel.pid_max=4194304) or lower "
                 "FAAS_MAX_CONCURRENCY, or fork bombs in many functions at once can starve the host")


async def build(settings: Settings, progress: Callable[[str], None]) -> Platform:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)

    engine = create_engine(settings.effective_database_url)
    progress("applying database migrations")
    await migrate(engine)
    master = MasterKey.load_or_create(settings.data_dir / "master.key")
    await ensure_admin_credentials(KeyStore(engine), master, settings.credentials_path)

    client = await asyncio.to_thread(connect)
    if settings.build_images:
        image_refs = await asyncio.to_thread(images.ensure_images, client, prefix=settings.image_prefix,
                                             progress=progress, mirror=settings.debian_mirror or None)
    else:
        image_refs = {rt: images.image_ref(settings.image_prefix, rt) for rt in images.RUNTIMES}
    _check_pid_room(settings, progress)
    node = node_id(settings.data_dir)
    backend = DockerBackend(client, network=settings.docker_network, node_id=node)
    gateway = await backend.prepare()
    removed = await backend.remove_leftovers()
    if removed:
        progress(f"removed {removed} containers left behind by a previous run")

    function_store = FunctionStore(engine)
    pool = Pool(backend, CodeCache(settings.data_dir / "code", function_store.code), images=image_refs,
                region=settings.region, node_id=node, keep_alive_s=settings.keep_alive_s,
                max_environments=settings.max_concurrency, prewarm=settings.prewarm_per_runtime,
                slots=settings.data_dir / "slots")
    recorder = Recorder(InvocationStore(engine))
    limiter = Limiter(settings.max_concurrency)
    invoker = Invoker(pool, recorder, limiter, settings.function_arn)
    functions = FunctionService(function_store, images.RUNTIMES, limiter, backend.image_exists)
    await functions.load_reservations()

    api = web.Application(middlewares=[lambda_errors], client_max_size=MAX_REQUEST_BYTES)
    api[SERVICES] = Services(settings=settings, functions=functions, invoker=invoker,
                             invocations=InvocationStore(engine), retire=pool.retire,
                             environments=pool.describe)
    function_routes.add_routes(api)
    invoke_routes.add_routes(api)
    concurrency_routes.add_routes(api)
    native_routes.add_routes(api)

    return Platform(settings=settings, api=api, runtime=runtime_api.create_app(pool), runtime_host=gateway,
                    pool=pool, invoker=invoker, recorder=recorder, backend=backend, engine=engine)
