"""A function's log in the console: the newest invocations' output, followed live by a small script
that asks for what came after the last line it has (no page reloads, no streaming connection to hold)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from faas.api.console.functions import RECORDS, function_name
from faas.api.console.web import HEADERS, ROOT, View, page
from faas.errors import InvalidParameterValue
from faas.model import InvocationRecord, utcnow

RECENT = 20  # invocations shown when the page opens
FOLLOW_LIMIT = 200  # invocations handed to the script per poll
FIRST_FOLLOW = dt.timedelta(minutes=5)  # how far back a poll without a position looks


def events(records: list[InvocationRecord]) -> list[dict]:
    """One event per invocation, its lines as the function and the platform wrote them."""
    return [{"timestamp": int(r.started_at.timestamp() * 1000), "requestId": r.request_id,
             "outcome": r.outcome, "message": r.log} for r in records]


@page
async def log_page(view: View) -> web.Response:
    name = function_name(view)
    await view.authorize(RECORDS, view.function_arn(name), name)
    await view.ctx.functions.get(name)
    records = await view.ctx.invocations.recent(name, RECENT)
    after = records[-1].started_at if records else utcnow()
    return view.render("logs.html", name=name, events=events(records),
                       after=after.isoformat())


@page
async def log_events(view: View) -> web.Response:
    """What the live view's script polls: the invocations that started after `after` (ISO 8601)."""
    name = function_name(view)
    await view.authorize(RECORDS, view.function_arn(name), name)
    raw = view.request.query.get("after", "")
    try:
        after = dt.datetime.fromisoformat(raw) if raw else utcnow() - FIRST_FOLLOW
    except ValueError as exc:
        raise InvalidParameterValue("after must be an ISO 8601 time") from exc
    if after.tzinfo is None:
        after = after.replace(tzinfo=dt.timezone.utc)
    records = await view.ctx.invocations.since(name, after, FOLLOW_LIMIT)
    return web.json_response({"events": events(records),
                              "after": (records[-1].started_at if records else after).isoformat()},
                             headers=HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/functions/{function}/logs", log_page)
    app.router.add_get(ROOT + "/functions/{function}/logs/events", log_events)
