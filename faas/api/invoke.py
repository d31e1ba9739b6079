"""The Invoke route: RequestResponse (synchronous), Event (queued durably, 202) and DryRun."""

from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_body
from faas.api.context import function_name, services
from faas.dispatch.logs import log_tail
from faas.sources.async_events import MAX_ASYNC_PAYLOAD
from faas.errors import InvalidParameterValue, InvalidRequestContent, RequestTooLarge
from faas.model import LATEST

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_CLIENT_CONTEXT = 3583


@operation("lambda:InvokeFunction", body_limit=MAX_SYNC_PAYLOAD, audited=False)
async def invoke(request: web.Request) -> web.Response:
    ctx = services(request)
    name = function_name(request)
    invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    log_type = request.headers.get("X-Amz-Log-Type", "None")
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        raise InvalidParameterValue(f"InvocationType {invocation_type!r} is not one of RequestResponse, Event, DryRun")
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValue("LogType must be None or Tail")
    fn = await ctx.functions.get(name)
    payload = await read_body(request, MAX_SYNC_PAYLOAD, "InvokeFunction")
    if payload.strip():
        try:
            json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequestContent("Could not parse request body into json: Could not parse payload into json: "
                                        f"{exc.__class__.__name__}: the payload is not valid JSON") from exc
    else:
        payload = b"{}"
    client_context = request.headers.get("X-Amz-Client-Context")
    if client_context is not None:
        if len(client_context) > MAX_CLIENT_CONTEXT:
            raise InvalidParameterValue("Client context must be at most 3583 bytes once base64-encoded")
        try:
            client_context = base64.b64decode(client_context, validate=True).decode()
            json.loads(client_context)
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequestContent("Client context must be base64-encoded JSON") from exc
    if invocation_type == "DryRun":
        return web.Response(status=204)
    if invocation_type == "Event":
        if len(payload) > MAX_ASYNC_PAYLOAD:
            raise RequestTooLarge(f"{len(payload)} byte payload is too large for the Event invocation type "
                                  f"(limit {MAX_ASYNC_PAYLOAD} bytes)")
        # 202 only once the event is durably in the store.
        request_id = await ctx.async_invoker.enqueue(fn.name, payload)
        return web.Response(status=202, headers={"x-amzn-RequestId": request_id})

    result = await ctx.invoker.invoke(fn, payload, client_context)
    headers = {"X-Amz-Executed-Version": LATEST, "x-amzn-RequestId": result.request_id}
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if log_type == "Tail":
        headers["X-Amz-Log-Result"] = log_tail(result.log)
    return web.Response(status=200, body=result.body, headers=headers, content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/2015-03-31/functions/{function}/invocations", invoke)
