"""What the HTTP handlers are handed by the app factory: services, never stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from aiohttp import web

from faas.sources.async_events import AsyncInvoker
from faas.sources.async_listing import AsyncEventList
from faas.dispatch.invoker import Invoker
from faas.services.audit import AuditService
from faas.services.event_bus import EventBusService
from faas.services.event_configs import EventConfigService
from faas.services.http_apis import HttpApiService
from faas.services.identities import IdentityService
from faas.services.invocations import InvocationService
from faas.services.logs import LogService
from faas.services.mappings import MappingService
from faas.services.metrics import MetricsService
from faas.services.permissions import PermissionService
from faas.services.queues import QueueService
from faas.services.schedules import ScheduleService
from faas.services.topics import TopicService
from faas.services.urls import UrlService
from faas.services.usage import UsageService
from faas.services.functions import FunctionService, parse_function_ref
from faas.settings import Settings


@dataclasses.dataclass(frozen=True)
class Services:
    settings: Settings
    functions: FunctionService
    invoker: Invoker
    invocations: InvocationService
    retire: Callable[[str], None]  # stop the idle environments of a changed function
    environments: Callable[[], list[dict[str, object]]]
    identities: IdentityService
    permissions: PermissionService
    audit_log: AuditService
    async_invoker: AsyncInvoker
    async_events: AsyncEventList  # what a function's asynchronous invocations are doing
    event_configs: EventConfigService
    urls: UrlService
    queues: QueueService
    topics: TopicService
    mappings: MappingService
    events: EventBusService
    http_apis: HttpApiService
    schedules: ScheduleService
    usage: UsageService
    logs: LogService
    metrics: MetricsService | None = None  # None when FAAS_METRICS_ENABLED is off


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def function_name(request: web.Request, *, qualified: bool = True) -> str:
    """The function the path names (and its Qualifier, for operations that take one), refused in
    Lambda's words: an unknown version is not found under its ARN."""
    qualifier = request.query.get("Qualifier") if qualified else None
    return parse_function_ref(request.match_info["function"], qualifier, services(request).settings.function_arn)
