"""faas's own REST API beside Lambda's: health, logs, asynchronous events, code download and the node's
environments."""

from __future__ import annotations

from aiohttp import web

from faas.api.auth import operation
from faas.api.context import function_name, services
from faas.errors import InvalidParameterValue
from faas.services.functions import parse_function_ref
from faas.sources.async_listing import STATES, EventStatus

NATIVE = "/faas/v1"


@operation("faas:Health", open=True, audited=False)
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@operation("faas:GetFunctionLogs", audited=False)
async def function_logs(request: web.Request) -> web.Response:
    ctx = services(request)
    name = function_name(request, qualified=False)
    limit = _limit(request, default=20)
    await ctx.functions.get(name)  # 404 for an unknown function
    records = await ctx.invocations.recent(name, limit)
    return web.json_response({"Invocations": [
        {
            "RequestId": r.request_id,
            "Start": r.started_at.isoformat(),
            "DurationMs": round(r.duration_ms, 2),
            "BilledDurationMs": r.billed_duration_ms,
            "MaxMemoryUsedMB": r.max_memory_used_mb,
            "InitDurationMs": r.init_duration_ms,
            "Outcome": r.outcome,
            "ErrorType": r.error_type,
            "Cold": r.cold,
            "Log": r.log,
        }
        for r in records
    ]})


@operation("faas:ListAsyncEvents", audited=False)
async def async_events(request: web.Request) -> web.Response:
    """A function's asynchronous invocations: pending (waiting or running) and failed, never their payloads."""
    ctx = services(request)
    name = function_name(request, qualified=False)
    state = request.query.get("state", "all")
    if state not in STATES:
        raise InvalidParameterValue(f"state must be one of {', '.join(STATES)}, not {state!r}")
    limit = _limit(request, default=100)
    await ctx.functions.get(name)  # 404 for an unknown function
    events = await ctx.async_events.events(name, state, limit)
    return web.json_response({"Events": [_event(event) for event in events]})


def _event(event: EventStatus) -> dict:
    def when(at):  # type: ignore[no-untyped-def]
        return at.isoformat() if at is not None else None

    return {"RequestId": event.request_id, "State": event.state, "Attempts": event.attempts,
            "NextAttemptAt": when(event.next_attempt_at), "LastError": event.last_error,
            "EnqueuedAt": when(event.enqueued_at), "PayloadBytes": event.payload_bytes,
            "FailedAt": when(event.failed_at), "Reason": event.reason, "SentTo": list(event.sent_to)}


def _limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidParameterValue("limit must be an integer between 1 and 1000")
    return int(raw)


@operation("lambda:GetFunction", audited=False)
async def function_code(request: web.Request) -> web.Response:
    ctx = services(request)
    fn = await ctx.functions.get(function_name(request, qualified=False))
    data = await ctx.functions.code(fn)
    return web.Response(body=data, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{fn.name}.zip"'})


@operation("faas:ListEnvironments", audited=False)
async def environments(request: web.Request) -> web.Response:
    """This node's environments: all of them (acting on `function:*`), or with `?function=NAME` only that
    function's (acting on its ARN), so a principal may be allowed to see its own functions' only."""
    rows = services(request).environments()
    if "function" in request.query:
        name = parse_function_ref(request.query["function"])
        rows = [row for row in rows if row["FunctionName"] == name]
    return web.json_response({"Environments": rows})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get(NATIVE + "/functions/{function}/logs", function_logs)
    app.router.add_get(NATIVE + "/functions/{function}/events", async_events)
    app.router.add_get(NATIVE + "/functions/{function}/code", function_code)
    app.router.add_get(NATIVE + "/environments", environments)
