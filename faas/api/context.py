"""What the HTTP handlers are handed by the app factory."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from aiohttp import web

from faas.sources.async_events import AsyncInvoker
from faas.dispatch.invoker import Invoker
from faas.dispatch.recorder import Recorder
from faas.services.event_configs import EventConfigService
from faas.services.identities import IdentityService
from faas.services.permissions import PermissionService
from faas.services.urls import UrlService
from faas.store.audit import AuditStore
from faas.services.functions import FunctionService
from faas.settings import Settings
from faas.store.invocations import InvocationStore


@dataclasses.dataclass(frozen=True)
class Services:
    settings: Settings
    functions: FunctionService
    invoker: Invoker
    invocations: InvocationStore
    retire: Callable[[str], None]  # stop the idle environments of a changed function
    environments: Callable[[], list[dict[str, object]]]
    identities: IdentityService
    permissions: PermissionService
    audit: Recorder  # where audit entries are appended
    audit_log: AuditStore  # where they are queried
    async_invoker: AsyncInvoker
    event_configs: EventConfigService
    urls: UrlService


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
