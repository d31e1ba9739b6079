"""AWS's JSON protocol, for every service that speaks it (SQS and EventBridge; faas.api.router sends it the requests
with an `X-Amz-Target: <prefix>.<Operation>` header, whose SigV4 credential scope must name that same
service): the body is one JSON object, answers are `application/x-amz-json-1.0`, and errors are
`{"__type": ..., "message": ...}`. For services that moved from the query protocol (`awsQueryCompatible`
in their botocore model, as SQS), the old error code goes in `x-amzn-query-error: <code>;Sender|Receiver`,
from which boto3 picks the modeled exception.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from faas.api.body import BODY, parse_json
from faas.errors import ApiError, InvalidSignature, JsonSyntaxError, UnknownOperation

CONTENT_TYPE = "application/x-amz-json-1.0"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"(?:^|&)X-Amz-Credential=[^/&]+(?:/|%2F)\d{8}(?:/|%2F)[^/&%]+(?:/|%2F)([^/&%]+)"
                          r"(?:/|%2F)aws4_request", re.IGNORECASE)

# An operation answers a JSON object, or a response it streamed itself (an event stream).
Operation = Callable[[web.Request, dict[str, Any]], Awaitable[dict[str, Any] | web.StreamResponse]]


@dataclasses.dataclass(frozen=True)
class JsonService:
    signing_name: str  # the SigV4 scope's service, also the IAM action prefix ("sqs")
    target_prefix: str  # X-Amz-Target's part before the dot ("AmazonSQS")
    error_namespace: str  # __type's part before '#'
    operations: dict[str, Operation]  # each declared with faas.api.auth.operation
    # The platform's own errors (the guard's refusals, internal errors) by Lambda code, in this service's codes.
    common_codes: dict[str, str]
    query_compatible: bool = True
    query: Any = None  # a faas.api.awsquery.QueryShapes when the service also speaks the query protocol
    speaks_json: bool = True  # False for a service that speaks only the query protocol (SNS)


SERVICES = web.AppKey("json_services", dict)  # target prefix -> JsonService


def target_of(request: web.Request) -> tuple[JsonService, str] | None:
    """The service and operation an `X-Amz-Target` names, or None when the request is not such a call."""
    target = request.headers.get("X-Amz-Target")
    if target is None or request.path != "/":
        return None
    prefix, _, name = target.partition(".")
    service = request.app.get(SERVICES, {}).get(prefix)
    return (service, name) if service is not None and service.speaks_json else None


def scope_service(request: web.Request) -> str | None:
    """The service a SigV4 credential scope names (header or presigned query), None when unsigned."""
    match = _SCOPE.search(request.headers.get("Authorization", ""))
    if match is None:
        match = _QUERY_SCOPE.search(request.rel_url.raw_query_string)
    return match.group(1) if match else None


def resolve(request: web.Request) -> Operation:
    """The operation an `X-Amz-Target` names, for the guard to authorise and the router to run."""
    found = target_of(request)
    if found is None:
        raise UnknownOperation(f"No service answers X-Amz-Target {request.headers.get('X-Amz-Target', '')[:128]!r}")
    service, name = found
    check_scope(request, service)
    handler = service.operations.get(name)
    if handler is None:
        raise UnknownOperation(f"{service.target_prefix} has no operation {name[:128]!r}")
    return handler


def check_scope(request: web.Request, service: JsonService) -> None:
    scope = scope_service(request)
    if scope is not None and scope != service.signing_name:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{service.signing_name}'.")


def params_of(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (the guard read the body its signature covers)."""
    body = request.get(BODY, b"")
    if not body.strip():
        return {}
    try:
        parsed = parse_json(request, body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise JsonSyntaxError("The request body must be one JSON object.")
    return parsed


def response(result: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(result).encode(), content_type=CONTENT_TYPE)


def error_response(service: JsonService, error: ApiError, request_id: str) -> web.Response:
    code = service.common_codes.get(error.code, error.code)
    query_code = getattr(error, "query_code", "") or code
    headers = {"x-amzn-RequestId": request_id}
    if service.query_compatible:
        headers["x-amzn-query-error"] = f"{query_code};{'Sender' if error.status < 500 else 'Receiver'}"
    body = {"__type": f"{service.error_namespace}#{code}", "message": error.message}
    return web.Response(status=error.status, body=json.dumps(body).encode(), content_type=CONTENT_TYPE,
                        headers=headers)
