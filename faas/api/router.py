"""The one endpoint's router for AWS services beside Lambda: Lambda's REST API is routed by path
(aiohttp's routes); the others share `POST /`, where the protocol's own markers pick the service and the
operation: `X-Amz-Target` for the JSON protocol (faas.api.awsjson), `Action` in a form for the query
protocol (faas.api.awsquery), whose service is the one the SigV4 credential scope names. Every request
passes the same guard (authentication, policies, audit) and gets its errors in its protocol's shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiohttp import web

from faas.api import awsjson, awsquery
from faas.api.body import REQUEST_ID
from faas.errors import ApiError, UnknownOperation

ErrorShape = Callable[[ApiError, str], web.Response]


def resolve(request: web.Request):  # type: ignore[no-untyped-def]
    """What the guard authorises: the JSON operation, or a query request whose operation is in its body."""
    if awsjson.target_of(request) is not None:
        return awsjson.resolve(request)
    if awsquery.speaks_query(request):
        return awsquery.pending(request)
    raise UnknownOperation(f"No operation matches {request.method} {request.path}: AWS services on this endpoint "
                           "are called with X-Amz-Target (JSON protocol) or a signed form with Action (query protocol)")


def params_of(request: web.Request) -> dict[str, Any]:
    """The request's parameters in the JSON protocol's shape, whichever protocol carried them."""
    if awsjson.target_of(request) is not None:
        return awsjson.params_of(request)
    service = awsquery.pending(request).service
    return awsquery.params_of(request, service.query, awsquery.form(request).get("Action", ""))


async def dispatch(request: web.Request) -> web.StreamResponse:
    if awsjson.target_of(request) is not None:
        result = await awsjson.resolve(request)(request, awsjson.params_of(request))
        # An operation with an event stream (StartLiveTail) answers with its own streamed response.
        return result if isinstance(result, web.StreamResponse) else awsjson.response(result)
    pending = awsquery.pending(request)
    result = await pending.resolve_body(request)(request, params_of(request))
    return awsquery.response(pending.service, awsquery.form(request)["Action"], result, request[REQUEST_ID])


dispatch.resolve = resolve  # type: ignore[attr-defined]  # the guard asks it which operation it authorises


def error_shape(request: web.Request, lambda_shape: ErrorShape) -> ErrorShape:
    """How this request's errors are written: its protocol's way, else Lambda's."""
    found = awsjson.target_of(request)
    if found is not None:
        return functools.partial(awsjson.error_response, found[0])
    service = awsquery.service_of(request)
    if service is not None:
        return functools.partial(awsquery.error_response, service)
    return lambda_shape


def add_routes(app: web.Application) -> None:
    app.router.add_post("/", dispatch)
