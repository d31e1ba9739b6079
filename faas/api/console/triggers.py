"""The triggers page: everything that invokes functions (function URLs, queue mappings, topic
subscriptions, schedules, event rules, HTTP APIs), each section read only when the caller's policies
allow its list action, as the API would; a denied section says so and the rest still shows."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.console.web import ROOT, View, page
from faas.errors import AccessDenied, ResourceNotFound

ROWS = 100  # per section: a page, not an export


@dataclasses.dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    refusal: str = ""  # why the caller may not see this section


async def _urls(view: View) -> list[tuple[str, ...]]:
    await view.authorize("lambda:ListFunctions")
    functions, _ = await view.ctx.functions.list(None, ROWS, unseal=lambda name: False)
    rows = []
    for fn in functions:
        if not await view.allowed("lambda:GetFunctionUrlConfig", view.function_arn(fn.name)):
            continue
        try:
            config = view.ctx.urls.shape(await view.ctx.urls.get(fn.name), view.request.url.port)
        except ResourceNotFound:
            continue
        rows.append((fn.name, config["FunctionUrl"], config["AuthType"], config["InvokeMode"]))
    return rows


async def _mappings(view: View) -> list[tuple[str, ...]]:
    await view.authorize("lambda:ListEventSourceMappings")
    mappings, _ = await view.ctx.mappings.list(None, None, None, ROWS)
    return [(m.function_name, m.source_arn, str(m.batch_size), m.state) for m in mappings]


async def _subscriptions(view: View) -> list[tuple[str, ...]]:
    await view.authorize("sns:ListSubscriptions", view.ctx.topics.topic_arn("*"))
    subscriptions, _ = await view.ctx.topics.list_subscriptions(None, None)
    return [(s.topic, s.protocol, s.endpoint, "confirmed" if s.confirmed else "pending") for s in subscriptions]


async def _queues(view: View) -> list[tuple[str, ...]]:
    await view.authorize("sqs:ListQueues", view.ctx.queues.arn("*"))
    names, _ = await view.ctx.queues.list_queues(None, ROWS, None)
    return [(name, view.ctx.queues.arn(name)) for name in names]


async def _schedules(view: View) -> list[tuple[str, ...]]:
    await view.authorize("scheduler:ListSchedules")
    schedules, _ = await view.ctx.schedules.list(None, None, None, None, str(ROWS))
    return [(s.group_name, s.name, s.expression, s.target.get("Arn", ""), "enabled" if s.enabled else "disabled")
            for s in schedules]


async def _rules(view: View) -> list[tuple[str, ...]]:
    await view.authorize("events:ListRules")
    rules, _ = await view.ctx.events.list_rules({"Limit": ROWS})
    return [(r.bus, r.name, r.schedule_expression or r.event_pattern or "", r.state) for r in rules]


async def _apis(view: View) -> list[tuple[str, ...]]:
    await view.authorize("apigateway:GET", view.ctx.http_apis.arn("/apis"))
    apis = await view.ctx.http_apis.list_apis(view.request.url.port)
    return [(a.get("name", ""), a["apiId"], a.get("protocolType", ""), a["apiEndpoint"]) for a in apis[:ROWS]]


SECTIONS: tuple[tuple[str, tuple[str, ...], Callable[[View], Awaitable[list[tuple[str, ...]]]]], ...] = (
    ("Function URLs", ("Function", "URL", "Auth", "Mode"), _urls),
    ("Queue mappings", ("Function", "Source", "Batch size", "State"), _mappings),
    ("Queues", ("Queue", "ARN"), _queues),
    ("Topic subscriptions", ("Topic", "Protocol", "Endpoint", "Status"), _subscriptions),
    ("Schedules", ("Group", "Name", "Expression", "Target", "State"), _schedules),
    ("Event rules", ("Bus", "Rule", "Pattern or schedule", "State"), _rules),
    ("HTTP APIs", ("Name", "Id", "Protocol", "Endpoint"), _apis),
)


@page
async def triggers(view: View) -> web.Response:
    sections = []
    for title, columns, read in SECTIONS:
        try:
            sections.append(Section(title, columns, await read(view)))
        except AccessDenied as refusal:
            sections.append(Section(title, columns, [], refusal.message))
    return view.render("triggers.html", sections=sections)


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/triggers", triggers)
