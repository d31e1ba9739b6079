"""The one place that wires the platform together: store, keys, Docker, pool, invoker and HTTP apps."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from faas.api import concurrency as concurrency_routes
from faas.api import event_configs as event_config_routes
from faas.api import functions as function_routes
from faas.api import identities as identity_routes
from faas.api import invoke as invoke_routes
from faas.api import native as native_routes
from faas.api import permissions as permission_routes
from faas.api import urls as url_routes
from faas.api.auth import GUARD, Guard, guard
from faas.api.context import SERVICES, Services
from faas.api.middleware import lambda_errors
from faas.dispatch.async_invoker import AsyncInvoker
from faas.dispatch.concurrency import Limiter
from faas.dispatch.invoker import Invoker
from faas.dispatch.recorder import Recorder
from faas.dispatch.refusals import RefusalCoalescer
from faas.sandbox import images, runtime_api
from faas.sandbox.backend import Network
from faas.sandbox.codecache import CodeCache
from faas.sandbox.docker_backend import DockerBackend, connect
from faas.sandbox.firewall import OPEN, Policy
from faas.sandbox.iptables import Firewall, host_nameservers
from faas.sandbox.pool import Pool
from faas.sandbox.spec import PIDS_LIMIT
from faas.services.admin import ensure_admin_credentials
from faas.security.masterkey import MasterKey
from faas.services.destinations import DestinationPermissions
from faas.services.event_configs import EventConfigService
from faas.services.functions import FunctionService
from faas.services.identities import IdentityService
from faas.services.permissions import PermissionService
from faas.services.retention import Pruner, Rule
from faas.services.urls import UrlService
from faas.errors import StartupError
from faas.model import Function
from faas.settings import Settings
from faas.store.db import create_engine, migrate, scrub
from faas.store.functions import FunctionStore
from faas.store.invocations import InvocationStore
from faas.store.audit import AuditStore
from faas.store.event_configs import EventConfigStore
from faas.store.identities import IdentityStore
from faas.store.meta import CANARY, CANARY_TEXT, MetaStore
from faas.store.permissions import PermissionStore
from faas.store.urls import UrlStore
from faas.store.work import WorkStore

log = logging.getLogger(__name__)

# Base64 of a 50 MB zip plus the JSON around it; each route applies its own, smaller limit.
MAX_REQUEST_BYTES = 70 * 1024 * 1024
# Audit entries waiting for the store; past this they are dropped and counted (floods of refusals are
# folded into one row per caller, address, action and status a minute before they get here).
AUDIT_BUFFER = 10_000


@dataclasses.dataclass
class Platform:
    settings: Settings
    api: web.Application
    runtime: web.Application
    runtime_host: str
    network: Network
    firewall: Firewall  # installed by the server once it knows its ports on the bridge
    pool: Pool
    invoker: Invoker
    async_invoker: AsyncInvoker
    recorders: tuple[Recorder, ...]  # invocation records, audit entries
    retention: Pruner
    backend: DockerBackend
    engine: object
    sandbox: Path | None = None  # this node's unpacked code and /var/task directories

    async def close(self) -> None:
        await self.async_invoker.close()
        await self.pool.close()
        await self.retention.close()
        if self.sandbox is not None:  # a cache of the store's code: the next start unpacks what it needs
            shutil.rmtree(self.sandbox, ignore_errors=True)
        for recorder in self.recorders:
            await recorder.close()
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


def sandbox_dir(settings: Settings, node: str, progress: Callable[[str], None]) -> Path:
    """This node's directory for unpacked code and environments' /var/task. Functions read its path in
    /proc/self/mountinfo, so it lives outside the data dir (whose path may name a user or a host)."""
    path = settings.sandbox_dir / node
    try:
        settings.sandbox_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create the sandbox directory {path}: {exc.strerror}; set FAAS_SANDBOX_DIR to "
                           "a directory this user may write, outside the data dir") from exc
    if settings.sandbox_dir.is_relative_to(settings.data_dir):
        progress(f"warning: FAAS_SANDBOX_DIR ({settings.sandbox_dir}) is inside the data dir: every function "
                 "can read the data dir's path in /proc/self/mountinfo")
    return path


async def open_master_key(settings: Settings, meta: MetaStore) -> MasterKey:
    """The master key from the setting or its file. A missing file is created only on a first start:
    when the store already holds sealed secrets, starting with a new key would orphan them."""
    canary = await meta.get(CANARY)
    if settings.master_key:
        master = MasterKey.from_setting(settings.master_key)
    elif settings.master_key_path.exists() or canary is None:
        master = MasterKey.load_or_create(settings.master_key_path)
    else:
        raise StartupError(
            f"the master key file {settings.master_key_path} is missing, but the store holds secrets sealed with "
            "it: restore the file (or set FAAS_MASTER_KEY); nothing was changed")
    if canary is None:
        await meta.put(CANARY, master.seal(CANARY_TEXT, CANARY))
    elif master.open(canary, CANARY) != CANARY_TEXT:  # a wrong key fails inside open() already
        raise StartupError("the master key does not match the store")
    return master


def egress_firewall(settings: Settings) -> Firewall:
    policy = Policy(settings.egress, settings.egress_allow,
                    host_nameservers() if settings.egress != OPEN else ())
    return Firewall(network=settings.docker_network, policy=policy)


async def build(settings: Settings, progress: Callable[[str], None]) -> Platform:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    firewall = egress_firewall(settings)
    await asyncio.to_thread(firewall.check)  # before anything slow: without it no function may run

    engine = create_engine(settings.effective_database_url)
    progress("applying database migrations")
    await migrate(engine)
    master = await open_master_key(settings, MetaStore(engine))
    identity_store = IdentityStore(engine)
    node = node_id(settings.data_dir)
    identities = IdentityService(identity_store, master, settings.account_id, node,
                                 token_max_ttl_s=settings.token_max_ttl_s)
    await identities.bootstrap()
    await ensure_admin_credentials(identities, identity_store, master, settings.credentials_path)

    client = await asyncio.to_thread(connect)
    if settings.build_images:
        image_refs = await asyncio.to_thread(images.ensure_images, client, prefix=settings.image_prefix,
                                             progress=progress, mirror=settings.debian_mirror or None)
    else:
        image_refs = {rt: images.image_ref(settings.image_prefix, rt) for rt in images.RUNTIMES}
    _check_pid_room(settings, progress)
    backend = DockerBackend(client, network=settings.docker_network, node_id=node)
    network = await backend.prepare()
    if network.ipv6 and settings.egress != OPEN:
        raise StartupError(f"the Docker network {settings.docker_network!r} has IPv6, which the egress firewall "
                           "does not cover: use an IPv4-only network (FAAS_DOCKER_NETWORK) or FAAS_EGRESS=open")
    removed = await backend.remove_leftovers()
    if removed:
        progress(f"removed {removed} containers left behind by a previous run")
    await identities.revoke_node_sessions()

    async def issue_credentials(fn: Function) -> tuple[dict[str, str], str]:
        credentials = await identities.issue_session(fn.role, fn.name, settings.credentials_ttl_s)
        return credentials, credentials["AWS_ACCESS_KEY_ID"]

    function_store = FunctionStore(engine)
    sandbox = sandbox_dir(settings, node, progress)
    pool = Pool(backend, CodeCache(sandbox / "code", function_store.code), images=image_refs,
                region=settings.region, node_id=node, keep_alive_s=settings.keep_alive_s,
                max_environments=settings.max_concurrency, prewarm=settings.prewarm_per_runtime,
                slots=sandbox / "slots", issue_credentials=issue_credentials,
                revoke_credentials=identities.revoke_session, credentials_ttl_s=settings.credentials_ttl_s,
                image_repositories=settings.image_repositories)
    recorder = Recorder(InvocationStore(engine))
    audit = Recorder(AuditStore(engine), max_pending=AUDIT_BUFFER, coalescer=RefusalCoalescer())
    retention = Pruner([Rule("invocation records", InvocationStore(engine), settings.invocation_retention_days),
                        Rule("audit entries", AuditStore(engine), settings.audit_retention_days)])
    limiter = Limiter(settings.max_concurrency)
    invoker = Invoker(pool, recorder, limiter, settings.function_arn)
    permissions = PermissionService(PermissionStore(engine), settings.function_arn)
    urls = UrlService(UrlStore(engine), settings.function_arn, settings.url_domain, settings.scheme)

    def function_deleted(name: str) -> None:  # its rows went with it; so must what is cached of them
        permissions.forget(name)
        urls.forget_function(name)

    functions = FunctionService(function_store, images.RUNTIMES, limiter, master, settings.function_arn,
                                image_exists=backend.image_exists, role_exists=identities.resolve_role_arn,
                                on_delete=function_deleted, image_repositories=settings.image_repositories)
    await functions.load_reservations()
    destinations = DestinationPermissions(identities, permissions, settings.function_arn)
    event_configs = EventConfigService(EventConfigStore(engine), settings.function_arn, destinations.may_invoke)
    async_invoker = AsyncInvoker(WorkStore(engine), event_configs, functions, invoker, node_id=node,
                                 function_arn=settings.function_arn, retry_base_s=settings.async_retry_base_s,
                                 may_invoke=destinations.may_invoke, audit=audit)
    sealed = await functions.seal_plaintext_environments()
    if sealed:
        progress(f"encrypted the environment variables of {sealed} functions stored before encryption")
        await scrub(engine)

    api = web.Application(middlewares=[url_routes.host_style(settings.url_domain), lambda_errors, guard],
                          client_max_size=MAX_REQUEST_BYTES)
    api[SERVICES] = Services(settings=settings, functions=functions, invoker=invoker,
                             invocations=InvocationStore(engine), retire=pool.retire,
                             environments=pool.describe, identities=identities, permissions=permissions,
                             audit=audit, audit_log=AuditStore(engine), async_invoker=async_invoker,
                             event_configs=event_configs, urls=urls)
    api[GUARD] = Guard(identities, permissions, audit, settings)
    for routes in (function_routes, invoke_routes, concurrency_routes, permission_routes, event_config_routes,
                   url_routes, identity_routes, native_routes):
        routes.add_routes(api)

    return Platform(settings=settings, api=api, runtime=runtime_api.create_app(pool.registry),
                    runtime_host=network.gateway, network=network, firewall=firewall, pool=pool, invoker=invoker,
                    async_invoker=async_invoker, recorders=(recorder, audit), retention=retention,
                    backend=backend, engine=engine, sandbox=sandbox)
