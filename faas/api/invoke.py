"""The invoke routes: Invoke (RequestResponse, Event queued durably with a 202, DryRun) and
InvokeWithResponseStream (RequestResponse and DryRun; the response is an event stream of PayloadChunk
events, as the function writes them, and a last InvokeComplete)."""

from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import REQUEST_ID, read_body
from faas.api.context import function_name, services
from faas import eventstream
from faas.dispatch.invoker import Result
from faas.dispatch.logs import log_tail
from faas.sandbox.response_stream import ResponseStream
from faas.sources.async_events import MAX_ASYNC_PAYLOAD
from faas.errors import InvalidParameterValue, InvalidRequestContent, RequestTooLarge
from faas.model import LATEST

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_CLIENT_CONTEXT = 3583


@operation("lambda:InvokeFunction", body_limit=MAX_SYNC_PAYLOAD, audited=False)
async def invoke(request: web.Request) -> web.Response:
    ctx = services(request)
    invocation_type, log_type = _types(request, ("RequestResponse", "Event", "DryRun"))
    fn = await ctx.functions.get(function_name(request))
    payload, client_context = await _payload(request, "InvokeFunction")
    if invocation_type == "DryRun":
        return web.Response(status=204)
    if invocation_type == "Event":
        if len(payload) > MAX_ASYNC_PAYLOAD:
            raise RequestTooLarge(f"{len(payload)} byte payload is too large for the Event invocation type "
                                  f"(limit {MAX_ASYNC_PAYLOAD} bytes)")
        # 202 only once the event is durably in the store.
        # As on Lambda, the call's request id is the invocation's (its context.aws_request_id).
        request_id = await ctx.async_invoker.enqueue(fn.name, payload, request_id=request[REQUEST_ID])
        return web.Response(status=202, headers={"x-amzn-RequestId": request_id})

    result = await ctx.invoker.invoke(fn, payload, client_context, request_id=request[REQUEST_ID])
    headers = {"X-Amz-Executed-Version": LATEST, "x-amzn-RequestId": result.request_id}
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if log_type == "Tail":
        headers["X-Amz-Log-Result"] = log_tail(result.log)
    return web.Response(status=200, body=result.body, headers=headers, content_type="application/json")


# Lambda checks the same permission for both operations: InvokeWithResponseStream has no action of its own.
@operation("lambda:InvokeFunction", body_limit=MAX_SYNC_PAYLOAD, audited=False)
async def invoke_with_response_stream(request: web.Request) -> web.StreamResponse:
    ctx = services(request)
    invocation_type, log_type = _types(request, ("RequestResponse", "DryRun"))
    fn = await ctx.functions.get(function_name(request))
    payload, client_context = await _payload(request, "InvokeWithResponseStream")
    if invocation_type == "DryRun":
        return web.Response(status=204)

    request_id = request[REQUEST_ID]
    response: web.StreamResponse | None = None

    async def start(content_type: str) -> web.StreamResponse:
        nonlocal response
        # The content type is the function's (what ResponseStreamContentType reports); the body is an event stream.
        response = web.StreamResponse(status=200, headers={
            "Content-Type": content_type, "X-Amz-Executed-Version": LATEST, "x-amzn-RequestId": request_id})
        await response.prepare(request)
        return response

    async def forward(stream: ResponseStream) -> None:
        out = await start(stream.content_type)
        while (chunk := await stream.read()) is not None:
            await out.write(eventstream.payload_chunk(chunk))  # waits while the caller's socket is full

    result = await ctx.invoker.invoke(fn, payload, client_context, request_id=request_id, consume=forward)
    out = response
    try:
        if out is None:  # the function answered in one piece: one chunk, as Lambda sends it
            out = await start(result.content_type or "application/json")
            if result.body and result.function_error is None:
                await out.write(eventstream.payload_chunk(result.body))
        await out.write(eventstream.invoke_complete(*_error_fields(result),
                                                     log_tail(result.log) if log_type == "Tail" else None))
        await out.write_eof()
    except ConnectionError:
        pass  # the caller has gone: nothing to tell it
    return response  # type: ignore[return-value]  # start() made it before anything could fail


def _types(request: web.Request, invocation_types: tuple[str, ...]) -> tuple[str, str]:
    invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    log_type = request.headers.get("X-Amz-Log-Type", "None")
    if invocation_type not in invocation_types:
        raise InvalidParameterValue(f"InvocationType {invocation_type!r} is not one of {', '.join(invocation_types)}")
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValue("LogType must be None or Tail")
    if "X-Amz-Tenant-Id" in request.headers:  # refused, never ignored, as TenancyConfig is
        raise InvalidParameterValue("TenantId is not supported by this platform: functions have no tenant isolation")
    return invocation_type, log_type


async def _payload(request: web.Request, operation: str) -> tuple[bytes, str | None]:
    """The event (JSON, `{}` when empty) and the decoded ClientContext."""
    payload = await read_body(request, MAX_SYNC_PAYLOAD, operation)
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
    return payload, client_context


def _error_fields(result: Result) -> tuple[str | None, str | None]:
    """InvokeComplete's ErrorCode (the errorType) and ErrorDetails (the errorMessage) of a failed invocation."""
    if result.function_error is None:
        return None, None
    try:
        details = json.loads(result.body).get("errorMessage")
    except (ValueError, AttributeError):
        details = None
    if not isinstance(details, str):
        details = result.body.decode("utf-8", "replace")
    return result.error_type or "Unhandled", details


def add_routes(app: web.Application) -> None:
    app.router.add_post("/2015-03-31/functions/{function}/invocations", invoke)
    app.router.add_post("/2021-11-15/functions/{function}/response-streaming-invocations", invoke_with_response_stream)
