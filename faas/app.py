"""The one place that wires the platform together: store, keys, Docker, pool, invoker and HTTP apps."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import secrets
import shutil
import ssl
import uuid
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from faas.api import concurrency as concurrency_routes
from faas.api import event_configs as event_config_routes
from faas.api import functions as function_routes
from faas.api import identities as identity_routes
from faas.api import invoke as invoke_routes
from faas.api import mappings as mapping_routes
from faas.api import metrics as metrics_routes
from faas.api import apigatewayv2 as http_api_routes
from faas.api import access_log
from faas.api import awsjson
from faas.api import execute_api
from faas.api import native as native_routes
from faas.api import router
from faas.api import schedules as schedule_routes
from faas.api import permissions as permission_routes
from faas.api import tags as tag_routes
from faas.api import urls as url_routes
from faas.api import usage as usage_routes
from faas.api.auth import GUARD, Guard, guard
from faas.api.context import SERVICES, Services
from faas.api.middleware import lambda_errors
from faas.api.events import EVENTS
from faas.api.sqs import SQS
from faas.api.logs import LOGS
from faas.api import sns as sns_routes
from faas.api.sns import SNS
from faas.api.console import routes as console_routes
from faas.api.console.web import CONSOLE, Console, templates
from faas.dispatch.concurrency import Limiter
from faas.dispatch.invoker import Invoker
from faas.billing import Metering, Prices
from faas.dispatch.usage import UsageMeter
from faas.dispatch.recorder import Recorder
from faas.lifecycle import Hooks, Part
from faas.metrics import Metrics
from faas.listener import Listener, bind, port_of
from faas.dispatch.refusals import RefusalCoalescer
from faas.sandbox import images, runtime_api
from faas.sandbox.codecache import CodeCache
from faas.sandbox.docker_backend import DockerBackend, connect
from faas.sandbox.firewall import OPEN, Policy
from faas.sandbox.iptables import Firewall, host_nameservers
from faas.sandbox.pool import Pool
from faas.sandbox.spec import PIDS_LIMIT
from faas.services.admin import ensure_admin_credentials
from faas.security.masterkey import MasterKey
from faas.services.audit import AuditService
from faas.services.console_sessions import ConsoleSessions
from faas.services.destinations import Destinations, Target, queue_entry
from faas.services.event_bus import EventBusService
from faas.services.event_configs import EventConfigService
from faas.services.functions import FunctionService
from faas.services.http_apis import HttpApiService
from faas.services.identities import IdentityService
from faas.services.invocations import InvocationService
from faas.services.logs import LogService
from faas.services.mappings import MappingService, lambda_filter
from faas.services.metrics import MetricsService
from faas.services.parameters import engine_architectures
from faas.services.permissions import PermissionService
from faas.services.queues import QueueService
from faas.services.retention import Pruner, Rule
from faas.services.schedules import ScheduleService
from faas.services.urls import UrlService
from faas.services.usage import UsageService
from faas.sources.async_events import ASYNC, AsyncInvoker, encode_event
from faas.sources.async_listing import AsyncEventList
from faas.sources.event_deliveries import EventDeliveries
from faas.sources.rule_schedules import RuleSchedules
from faas.sources.queue_pollers import QueuePollers, json_patterns
from faas.sources.schedules import ScheduleSource
from faas.clock import Clock
from faas.sources.topic_deliveries import TopicDeliveries
from faas.security.addresses import AddressRule
from faas.services.topic_signing import load_signer
from faas.services.topics import TopicService
from faas.store.topics import TopicStore, Work
from faas.sources.http_apis import HttpApiSource
from faas.sources.jwt_authorizers import JwtVerifier
from faas.sources.urls import UrlSource
from faas.errors import InvalidParameterValue, QueueDoesNotExist, ResourceNotFound, StartupError, TopicNotFound
from faas.model import Function
from faas.settings import Settings
from faas.store.db import create_engine, migrate, scrub
from faas.store.functions import FunctionStore
from faas.store.invocations import InvocationStore
from faas.store.logs import LogStore
from faas.store.async_failures import AsyncFailureStore
from faas.store.audit import AuditStore
from faas.store.console_sessions import ConsoleSessionStore
from faas.store.event_bus import EventBusStore
from faas.store.event_configs import EventConfigStore
from faas.store.http_apis import HttpApiStore
from faas.store.identities import IdentityStore
from faas.store.mappings import MappingStore
from faas.store.meta import CANARY, CANARY_TEXT, MetaStore
from faas.store.permissions import PermissionStore
from faas.store.queues import QueueStore
from faas.store.schedules import ScheduleStore
from faas.store.urls import UrlStore
from faas.store.usage import UsageStore
from faas.store.work import WorkStore

log = logging.getLogger(__name__)

# Base64 of a 50 MB zip plus the JSON around it; each route applies its own, smaller limit.
MAX_REQUEST_BYTES = 70 * 1024 * 1024
RUNTIME_SHUTDOWN_S = 5  # environments are killed by then; nothing on the Runtime API is worth waiting for
# Audit entries waiting for the store; past this they are dropped and counted (floods of refusals are
# folded into one row per caller, address, action and status a minute before they get here).
AUDIT_BUFFER = 10_000


@dataclasses.dataclass
class Platform:
    settings: Settings
    parts: tuple[Part, ...]  # every long-running part, in start order (faas.lifecycle)
    api: Listener  # the Lambda API, for the address it listens on once started


def endpoint_url(settings: Settings, port: int) -> str:
    """The API's URL as this host's clients reach it (what `faas serve` writes to <data-dir>/endpoint)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    return f"{settings.scheme}://{host}:{port}"


def node_id(data_dir: Path) -> str:
    """A stable id for this node, so a restart finds the containers its previous run left."""
    path = data_dir / "node-id"
    if not path.exists():
        path.write_text(secrets.token_hex(6) + "\n")
    return path.read_text().strip()


def _check_pid_room(settings: Settings, progress: Callable[[str], None]) -> None:
    """Every environment may run PIDS_LIMIT processes: warn when the host could run out of pids first. The
    warning explains itself on the first start that finds it (per data dir and figures); later starts only
    log it at debug level, so the start-up output stays short."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return
    if settings.max_concurrency * PIDS_LIMIT <= pid_max:
        return
    figures = f"pid_max={pid_max} max_concurrency={settings.max_concurrency} pids_limit={PIDS_LIMIT}\n"
    marker = settings.data_dir / "pid-max-warned"
    if marker.exists() and marker.read_text() == figures:
        log.debug("kernel.pid_max is %d, below %d environments of %d processes (warned at an earlier start)",
                  pid_max, settings.max_concurrency, PIDS_LIMIT)
        return
    progress(f"warning: kernel.pid_max is {pid_max}, but {settings.max_concurrency} environments "
             f"(FAAS_MAX_CONCURRENCY) may run up to {PIDS_LIMIT} processes each. Impact: only if functions fork "
             "that many processes at once (a fork bomb in several functions) can the host run out of pids, and "
             "then anything on it, faas and sshd included, may fail to start a process; ordinary functions are "
             "not affected. To rule it out: sysctl -w kernel.pid_max=4194304, or lower FAAS_MAX_CONCURRENCY. "
             "This warning is shown once; later starts log it at debug level.")
    marker.write_text(figures)


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


def shared_store(engine) -> bool:  # type: ignore[no-untyped-def]
    """Whether other nodes may write the store too (PostgreSQL): SQLite's is this server's alone (faas.serve_lock),
    so the sources that work off it need not look for others' work (faas.sources.pace)."""
    return engine.dialect.name != "sqlite"


async def _topics(settings: Settings, engine, master: MasterKey, node: str, queues: QueueService,  # type: ignore[no-untyped-def]
                  permissions: PermissionService, async_invoker: AsyncInvoker,
                  audit: Recorder) -> tuple[TopicService, TopicDeliveries]:
    """SNS topics, and the source that delivers to their queue and HTTP subscribers. A function subscriber's
    delivery is an asynchronous invocation, written in the publish's own transaction."""
    signer = await load_signer(MetaStore(engine), master, "faas SNS message signing")
    http_rule = AddressRule(settings.topic_http_deny, settings.topic_http_allow)

    async def queue_exists(name: str) -> bool:
        try:
            await queues.queue(name)
        except QueueDoesNotExist:
            return False
        return True

    def published() -> None:
        async_invoker.wake()
        deliveries.wake()

    topics = TopicService(TopicStore(engine), permissions, signer, region=settings.region,
                          account_id=settings.account_id, function_arn=settings.function_arn,
                          queue_exists=queue_exists,
                          lambda_work=lambda function, event: Work(ASYNC, str(uuid.uuid4()), encode_event(function, event)),
                          published=published, audit=audit.add, http_rule=http_rule)
    deliveries = TopicDeliveries(WorkStore(engine), topics, queues, node_id=node, http_rule=http_rule,
                                 retry_s=settings.topic_http_retry_s, shared_store=shared_store(engine))
    return topics, deliveries


def egress_firewall(settings: Settings) -> Firewall:
    policy = Policy(settings.egress, settings.egress_allow,
                    host_nameservers() if settings.egress != OPEN else ())
    return Firewall(network=settings.docker_network, policy=policy)


def schedule_clock(settings: Settings, progress: Callable[[str], None]) -> Clock:
    """The real clock, or FAAS_CLOCK_FILE's: a test aid, refused on a node others can reach."""
    if not settings.clock_file:
        return Clock()
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if not loopback:
        raise StartupError(f"FAAS_CLOCK_FILE is a test aid: it is refused while the API listens on {settings.host}, "
                           "which is not a loopback address; unset it")
    progress(f"warning: schedules run on the test clock in {settings.clock_file} (FAAS_CLOCK_FILE), not real time")
    return Clock(Path(settings.clock_file))


async def _schedules(settings, engine, node, destinations, functions, queues, topics,  # type: ignore[no-untyped-def]
                     identities, async_invoker, audit, clock) -> tuple[ScheduleService, ScheduleSource]:
    """EventBridge Scheduler: the service the API calls and the source that fires and delivers."""

    async def target_exists(target: Target) -> bool:
        if target.service == "sqs":
            return await queues.find(target.name) is not None
        try:
            await (functions.get(target.name) if target.service == "lambda" else topics.topic(target.name))
        except (ResourceNotFound, TopicNotFound):
            return False
        return True

    async def role_exists(arn: str) -> bool:
        try:
            await identities.resolve_role_arn(arn)
        except InvalidParameterValue:
            return False
        return True

    store = ScheduleStore(engine)
    service = ScheduleService(store, clock, region=settings.region, account_id=settings.account_id,
                              target_exists=target_exists, role_exists=role_exists, target_services=("lambda", "sqs", "sns"),
                              changed=lambda: source.changed())
    source = ScheduleSource(store, service, WorkStore(engine), clock, node_id=node, destinations=destinations,
                            functions=functions, async_invoker=async_invoker, audit=audit)
    return service, source


async def build(settings: Settings, progress: Callable[[str], None], tls: ssl.SSLContext | None = None) -> Platform:
    """Everything a node runs, built and wired but not started: the server drives `parts`."""
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
    # Asked once: functions may ask only for the architecture the engine runs natively (Lambda's Architectures).
    engine_architecture = await backend.architecture()
    architectures = engine_architectures(engine_architecture)
    if not architectures:
        raise StartupError(f"the Docker engine's architecture {engine_architecture!r} is neither x86_64 nor arm64, "
                           "the two Lambda runs")
    if network.ipv6 and settings.egress != OPEN:
        raise StartupError(f"the Docker network {settings.docker_network!r} has IPv6, which the egress firewall "
                           "does not cover: use an IPv4-only network (FAAS_DOCKER_NETWORK) or FAAS_EGRESS=open")
    # Bound before the pool is built, which hands both addresses to every environment: the Runtime API, and
    # the API as functions reach it (AWS_ENDPOINT_URL, with their role's credentials) on the bridge gateway,
    # in plain HTTP even when the API serves HTTPS: that traffic never leaves this host's bridge, and the
    # runtimes would otherwise need to trust the operator's CA (as the Runtime API, also plain HTTP).
    runtime_socket = bind(network.gateway, settings.runtime_api_port)
    inside_socket = bind(network.gateway, 0)
    removed = await backend.remove_leftovers()
    if removed:
        progress(f"removed {removed} containers left behind by a previous run")
    await identities.revoke_node_sessions()

    async def issue_credentials(fn: Function) -> tuple[dict[str, str], str]:
        credentials = await identities.issue_session(fn.role, fn.name, settings.credentials_ttl_s)
        return credentials, credentials["AWS_ACCESS_KEY_ID"]

    function_store = FunctionStore(engine, settings.function_arn)
    sandbox = sandbox_dir(settings, node, progress)
    pool = Pool(backend, CodeCache(sandbox / "code", function_store.code), images=image_refs,
                region=settings.region, node_id=node, keep_alive_s=settings.keep_alive_s,
                max_environments=settings.max_concurrency, prewarm=settings.prewarm_per_runtime,
                prewarm_budget_mb=settings.prewarm_memory_mb, parallel_starts=settings.parallel_starts,
                slots=sandbox / "slots", issue_credentials=issue_credentials,
                revoke_credentials=identities.revoke_session, credentials_ttl_s=settings.credentials_ttl_s,
                image_repositories=settings.image_repositories, runtime_api=f"{network.gateway}:{port_of(runtime_socket)}",
                platform_endpoint=f"http://{network.gateway}:{port_of(inside_socket)}")
    recorder = Recorder(InvocationStore(engine))
    audit = Recorder(AuditStore(engine), max_pending=AUDIT_BUFFER, coalescer=RefusalCoalescer())
    logs = LogService(LogStore(engine), region=settings.region, account_id=settings.account_id)
    retention = Pruner([Rule("invocation records", InvocationStore(engine), settings.invocation_retention_days),
                        Rule("audit entries", AuditStore(engine), settings.audit_retention_days),
                        # As long as the records of their attempts, whose logs say why they failed.
                        Rule("failed asynchronous invocations", AsyncFailureStore(engine),
                             settings.invocation_retention_days),
                        # Expired console sessions: refused from their expiry on, deleted a day later.
                        Rule("expired console sessions", ConsoleSessionStore(engine), 1.0)],
                       log_groups=logs)
    limiter = Limiter(settings.max_concurrency)
    metering = Metering(settings.billing_step_ms, settings.bill_init)
    prices = Prices(settings.price_per_million_requests, settings.price_per_gb_second, settings.free_requests,
                    settings.free_gb_seconds)
    usage_store = UsageStore(engine)
    meter = UsageMeter(usage_store, prices, enabled=settings.usage_enabled)
    metrics = Metrics() if settings.metrics_enabled else None
    invoker = Invoker(pool, recorder, limiter, settings.function_arn, metering=metering, usage=meter,
                      metrics=metrics)
    permissions = PermissionService(PermissionStore(engine), settings.function_arn)
    urls = UrlService(UrlStore(engine), settings.function_arn, settings.url_domain, settings.scheme)

    def function_deleted(name: str) -> None:  # its rows went with it; so must what is cached of them
        permissions.forget(name)
        urls.forget_function(name)
        if metrics is not None:
            metrics.forget_function(name)

    queues = QueueService(QueueStore(engine), WorkStore(engine), region=settings.region, account_id=settings.account_id)

    async def send_to_queue(target: Target, body: str, attributes: dict[str, tuple[str, str]], sender: str) -> None:
        await queues.send(target.name, queue_entry(body, attributes), sender)

    async def publish_to_topic(target: Target, body: str, attributes: dict[str, tuple[str, str]],
                               sender: str) -> None:
        # `topics` and `listener` are built below; records are sent only once the node runs.
        entry = queue_entry(body, attributes)
        await topics.publish(target.name, {"Message": body, "MessageAttributes": entry.get("MessageAttributes")},
                             endpoint_url(settings, listener.port))

    # Where asynchronous results may go (destinations and dead-letter targets), and the rights that decide.
    destinations = Destinations(identities, permissions, region=settings.region, account_id=settings.account_id,
                                send={"sqs": send_to_queue, "sns": publish_to_topic})
    functions = FunctionService(function_store, images.RUNTIMES, limiter, master, settings.function_arn,
                                image_exists=backend.image_exists, role_exists=identities.resolve_role_arn,
                                on_delete=function_deleted, image_repositories=settings.image_repositories,
                                architectures=architectures, check_target=destinations.check)
    await functions.load_reservations()
    event_configs = EventConfigService(EventConfigStore(engine), settings.function_arn, destinations)

    async def publish(detail_type: str, detail: dict, resources: list[str]) -> None:
        # The platform's own events, on the default bus. `events` is built below (its deliveries need the
        # async invoker); nothing publishes before the parts start, by when it exists.
        await events.publish(detail_type, detail, resources)

    async_invoker = AsyncInvoker(WorkStore(engine), event_configs, functions, invoker, node_id=node,
                                 function_arn=settings.function_arn, retry_base_s=settings.async_retry_base_s,
                                 destinations=destinations, audit=audit, failures=AsyncFailureStore(engine),
                                 publish=publish, shared_store=shared_store(engine))
    sealed = await functions.seal_plaintext_environments()
    if sealed:
        progress(f"encrypted the environment variables of {sealed} functions stored before encryption")
        await scrub(engine)

    mappings = MappingService(MappingStore(engine), functions, queues, identities, region=settings.region,
                              account_id=settings.account_id, function_arn=settings.function_arn,
                              compile_filter=lambda_filter, publish=publish)
    async def function_exists(name: str) -> bool:
        try:
            await functions.get(name)
        except ResourceNotFound:
            return False
        return True

    http_apis = HttpApiService(HttpApiStore(engine), region=settings.region, account_id=settings.account_id,
                               domain=settings.url_domain, scheme=settings.scheme, function_exists=function_exists,
                               add_permission=permissions.add)
    pollers = QueuePollers(mappings, queues, functions, invoker, region=settings.region,
                           compile_filters=json_patterns(lambda_filter), grace_s=settings.shutdown_grace_s)
    topics, topic_deliveries = await _topics(settings, engine, master, node, queues, permissions, async_invoker, audit)

    clock = schedule_clock(settings, progress)  # schedules' and schedule rules' due times are read on it
    schedules, schedule_source = await _schedules(settings, engine, node, destinations, functions, queues, topics,
                                                  identities, async_invoker, audit, clock)
    # PutEvents writes what each matched target is owed as leased work; this source delivers it.
    deliveries = EventDeliveries(WorkStore(engine), permissions, destinations, async_invoker.enqueue, audit,
                                 node_id=node, account_id=settings.account_id, function_arn=settings.function_arn,
                                 shared_store=shared_store(engine))
    events = EventBusService(EventBusStore(engine), WorkStore(engine), destinations, region=settings.region,
                             account_id=settings.account_id, wake=deliveries.wake, clock=clock.now)

    async def known_owner(arn: str) -> bool:
        """A principal, or the owner of a function there is or was (a role's session may create functions)."""
        principals = {p["Arn"] for p in await identities.list_principals()}
        return arn in principals or arn in await function_store.owners() or arn in await usage_store.owners()

    usage = UsageService(usage_store, meter, metering, prices, function_exists=function_exists,
                         known_owner=known_owner)

    # lambda_errors first: host-style URL requests, answered by the next middleware, leave through it too.
    api = web.Application(middlewares=[lambda_errors, url_routes.host_style(settings.url_domain),
                                         execute_api.host_style(settings.url_domain), guard],
                          client_max_size=MAX_REQUEST_BYTES)
    if metrics is not None:
        metrics_routes.count_requests(api, metrics)
    metrics_service = MetricsService(metrics, in_flight=limiter.in_flight_by_function, environments=pool.describe,
                                     async_backlog=async_invoker.backlog, work=WorkStore(engine),
                                     mappings=mappings) if metrics is not None else None
    api[SERVICES] = Services(settings=settings, functions=functions, invoker=invoker,
                             invocations=InvocationService(InvocationStore(engine)), retire=pool.retire,
                             environments=pool.describe, identities=identities, permissions=permissions,
                             audit_log=AuditService(audit.flush, AuditStore(engine)), async_invoker=async_invoker,
                             async_events=AsyncEventList(WorkStore(engine), AsyncFailureStore(engine),
                                                         InvocationStore(engine)),
                             event_configs=event_configs, urls=urls,
                             queues=queues, mappings=mappings, topics=topics, http_apis=http_apis,
                             schedules=schedules, events=events, usage=usage, logs=logs,
                             metrics=metrics_service)
    # AWS services beside Lambda, by their X-Amz-Target prefix (faas.api.router): one port, guard and audit log.
    api[awsjson.SERVICES] = {SQS.target_prefix: SQS, SNS.target_prefix: SNS, EVENTS.target_prefix: EVENTS,
                             LOGS.target_prefix: LOGS}
    api[GUARD] = checks = Guard(identities, permissions, audit, settings)
    # The URL source authenticates and authorises through the API's guard, handed in here (sources never
    # import the API): one implementation of credentials, policies and the audit log for every request.
    api[url_routes.URL_SOURCE] = UrlSource(urls, functions, invoker, checks, function_arn=settings.function_arn,
                                           account_id=settings.account_id, trusted_proxies=settings.trusted_proxies)
    jwt_verifier = JwtVerifier()
    api[execute_api.API_SOURCE] = HttpApiSource(http_apis, functions, invoker, permissions.statements, checks,
                                                jwt_verifier, function_arn=settings.function_arn, account_id=settings.account_id,
                                                trusted_proxies=settings.trusted_proxies)
    # The web console: the same services, authorised through the same guard as the session's principal.
    api[CONSOLE] = Console(services=api[SERVICES], guard=checks, templates=templates(),
                           sessions=ConsoleSessions(ConsoleSessionStore(engine), identities,
                                                    settings.console_session_ttl_s))
    console_routes.add_routes(api)
    for routes in (function_routes, invoke_routes, concurrency_routes, permission_routes, event_config_routes,
                   url_routes, identity_routes, native_routes, tag_routes, mapping_routes, http_api_routes,
                   execute_api, schedule_routes, router, sns_routes, usage_routes, metrics_routes):
        routes.add_routes(api)

    async def install_firewall() -> None:
        await asyncio.to_thread(firewall.install, network.interface,
                                [(network.gateway, port_of(runtime_socket)), (network.gateway, port_of(inside_socket))])

    async def remove_firewall() -> None:
        await asyncio.to_thread(firewall.remove)

    async def finish_in_flight() -> None:  # sync and async invocations alike, within the shutdown grace
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(invoker.wait_idle(), settings.shutdown_grace_s)

    # It listens until stop: environments finishing in-flight invocations (or starting for them) still call it.
    runtime = runtime_api.serve(pool.registry, (runtime_socket,), shutdown_timeout=RUNTIME_SHUTDOWN_S,
                                max_streamed_response_bytes=settings.max_streamed_response_bytes)
    listener = Listener("Lambda API", api, host=settings.host, port=settings.port, ssl_context=tls,
                        sockets=(inside_socket,), shutdown_timeout=settings.shutdown_grace_s,
                        access_log=access_log.LOGGER, access_log_class=access_log.AccessLogger)
    parts: tuple[Part, ...] = (
        Hooks("store", stop=engine.dispose),
        Hooks("Docker", stop=backend.close),
        Hooks("JWT key fetches", stop=jwt_verifier.close),
        # A cache of the store's code: the next start unpacks what it needs.
        Hooks("sandbox directory", stop=lambda: shutil.rmtree(sandbox, ignore_errors=True)),
        recorder,  # invocation records,
        meter,  # usage rollups, and
        audit,  # audit entries: written until everything after them has stopped
        retention,
        # Up before the pool starts, so no function ever runs outside it; down only once every environment is
        # gone, so their traffic stays fenced in to the end.
        Hooks("egress firewall", start=install_firewall, stop=remove_firewall),
        runtime,
        Hooks("pool", start=pool.start, stop=pool.close),
        Hooks("invocations in flight", drain=finish_in_flight),
        async_invoker,
        topic_deliveries,
        deliveries,  # after the async invoker, which function targets' deliveries enqueue into
        RuleSchedules(events.fire_due),  # fires schedule rules, whose deliveries the part before makes
        # Drained once the listener takes no more requests: long polls answer rather than hold the stop.
        Hooks("queue long polls", drain=queues.drain),
        Hooks("log live tails", drain=logs.drain),  # end, rather than hold the stop for hours
        # Drained first of the sources: receive no more, finish the batches under way.
        pollers,
        schedule_source,
        listener,  # last to start, first to stop taking requests
    )
    return Platform(settings=settings, parts=parts, api=listener)
