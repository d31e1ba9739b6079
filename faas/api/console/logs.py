"""A function's log in the console, read through the Logs service (`/aws/lambda/<function>`, the group
`aws logs tail` reads) and authorised as logs:FilterLogEvents on that group, as the Logs API is: the newest
lines, optionally through a filter pattern, then followed live by a small script that asks for what came
since the newest line it shows (no page reloads, no streaming connection to hold)."""

from __future__ import annotations

from aiohttp import web

from faas.api.console.functions import function_name
from faas.api.console.web import HEADERS, ROOT, View, page
from faas.errors import InvalidParameterValue
from faas.services.logs import GROUP_PREFIX

RECENT = 200  # lines shown when the page opens
FOLLOW_LIMIT = 1000  # lines handed to the script per poll
READ_LOGS = "logs:FilterLogEvents"


async def _authorized(view: View) -> str:
    name = function_name(view)
    await view.authorize(READ_LOGS, view.ctx.logs.group_arn(GROUP_PREFIX + name))
    return name


def _pattern(view: View) -> str | None:
    return view.request.query.get("filter", "").strip() or None


async def _events(view: View, name: str, since_ms: int, limit: int) -> list[dict]:
    """The lines, through the filter pattern if one is given (a bad one is refused, 400, in Logs' words)."""
    return await view.ctx.logs.events(name, since_ms, _pattern(view), limit)


@page
async def log_page(view: View) -> web.Response:
    name = await _authorized(view)
    await view.ctx.functions.get(name)
    events = await _events(view, name, 0, RECENT)
    return view.render("logs.html", name=name, events=events, pattern=_pattern(view) or "",
                       since=events[-1]["timestamp"] if events else 0)


@page
async def log_events(view: View) -> web.Response:
    """What the live view's script polls: the lines from `since` (ms) on; it drops those it already shows."""
    name = await _authorized(view)
    raw = view.request.query.get("since", "0")
    if not raw.isdigit():
        raise InvalidParameterValue("since must be a time in milliseconds since the epoch")
    events = await _events(view, name, int(raw), FOLLOW_LIMIT)
    return web.json_response({"events": events}, headers=HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/functions/{function}/logs", log_page)
    app.router.add_get(ROOT + "/functions/{function}/logs/events", log_events)
