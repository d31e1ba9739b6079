"""HTTP APIs' payload format 1.0 as pure values: request -> the REST-style event, result -> HTTP response.
(Format 2.0 is a function URL's event with the route's fields: faas.sources.url_events.)"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from faas.sources import url_events
from faas.sources.url_events import Header, HttpRequest

# API Gateway's own answers, as it words them.
NOT_FOUND = (404, {"message": "Not Found"})
UNAUTHORIZED = (401, {"message": "Unauthorized"})
FORBIDDEN = (403, {"message": "Forbidden"})
INTERNAL_ERROR = (500, {"message": "Internal Server Error"})
SERVICE_UNAVAILABLE = (503, {"message": "Service Unavailable"})
TOO_MANY_REQUESTS = (429, {"message": "Too Many Requests"})
TOO_LARGE = (413, {"message": "Request Entity Too Large"})


def internal_error() -> tuple[int, list[Header], bytes]:
    """What API Gateway answers for a function error or a response it cannot map."""
    status, body = INTERNAL_ERROR
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def build_event_v1(request: HttpRequest, resource: str) -> dict[str, Any]:
    """The payload format 1.0 event: headers and query both single-valued (the last value) and
    multi-valued; absent parts are null; `resource` is the route's path (or `$default`)."""
    signed = request.authorizer_iam is not None
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        key = name.lower()
        if url_events.is_platform_credential(key, value, signed) or key in url_events.PLATFORM_HEADERS:
            continue
        headers[key] = value
        multi_headers.setdefault(key, []).append(value)
    for key, value in request.origin.headers().items():
        headers[key] = value
        multi_headers[key] = [value]
    raw_query = url_events.without_presign(request.raw_query)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = value
        multi_query.setdefault(key, []).append(value)
    when = request.now
    identity = {"accessKey": None, "accountId": None, "caller": None, "cognitoAmr": None,
                "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None,
                "sourceIp": request.origin.source_ip, "user": None, "userAgent": headers.get("user-agent", ""),
                "userArn": None}
    if request.authorizer_iam is not None:
        identity.update(accessKey=request.authorizer_iam["accessKey"], accountId=request.account_id,
                        caller=request.authorizer_iam["callerId"], user=request.authorizer_iam["userId"],
                        userArn=request.authorizer_iam["userArn"])
    path = unquote(request.raw_path)
    context: dict[str, Any] = {
        "accountId": request.account_id, "apiId": request.url_id, "domainName": request.domain_name,
        "domainPrefix": request.url_id, "extendedRequestId": request.request_id,
        "httpMethod": request.method.upper(), "identity": identity, "path": path, "protocol": "HTTP/1.1",
        "requestId": request.request_id, "requestTime": url_events.request_time(when),
        "requestTimeEpoch": int(when.timestamp() * 1000), "resourceId": request.route_key,
        "resourcePath": resource, "stage": request.stage,
    }
    if request.authorizer is not None:
        context["authorizer"] = request.authorizer
    event: dict[str, Any] = {
        "version": "1.0", "resource": resource, "path": path, "httpMethod": request.method.upper(),
        "headers": headers, "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None, "multiValueQueryStringParameters": multi_query or None,
        "requestContext": context, "pathParameters": request.path_parameters or None,
        "stageVariables": request.stage_variables or None, "body": None, "isBase64Encoded": False,
    }
    if request.body:
        text = url_events.body_text(headers.get("content-type"), request.body)
        event["body"] = text if text is not None else base64.b64encode(request.body).decode("ascii")
        event["isBase64Encoded"] = text is None
    return event


def response_v1(payload: bytes, function_error: str | None) -> tuple[int, list[Header], bytes]:
    """The HTTP response for a payload 1.0 result: it must be an object with `statusCode`; `headers` and
    `multiValueHeaders` (repeated values joined with ',', each Set-Cookie sent on its own), `body` (a
    string, base64 when `isBase64Encoded`). Anything else is API Gateway's 500."""
    if function_error is not None:
        return internal_error()
    try:
        value = json.loads(payload)
    except ValueError:
        return internal_error()
    if not isinstance(value, dict) or "statusCode" not in value:
        return internal_error()
    headers = value.get("headers") or {}
    multi = value.get("multiValueHeaders") or {}
    body = value.get("body")
    if not isinstance(headers, dict) or not isinstance(multi, dict) or not isinstance(body, (str, type(None))):
        return internal_error()
    merged: dict[str, Any] = dict(headers)
    cookies: list[Any] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            return internal_error()
        if isinstance(name, str) and name.lower() == "set-cookie":
            cookies.extend(values)
        else:
            merged[name] = ",".join(str(v) for v in values)
    for name in [n for n in merged if isinstance(n, str) and n.lower() == "set-cookie"]:
        cookies.insert(0, merged.pop(name))
    as_v2 = {"statusCode": value["statusCode"], "headers": merged, "cookies": cookies, "body": body,
             "isBase64Encoded": value.get("isBase64Encoded") is True}
    return url_events.response_from_result(json.dumps(as_v2).encode(), None, failed=internal_error)
