"""CloudWatch Logs' API (JSON protocol 1.1, `X-Amz-Target: Logs_20140328.<Operation>`, routed by
faas.api.awsjson): thin handlers over faas.services.logs. Each operation is authorised as logs:<Operation> on the
log group's ARN (`arn:aws:logs:<region>:<account>:log-group:/aws/lambda/<function>:*`; GetLogEvents on its
stream's ARN, DescribeLogGroups on `log-group:*`, StartLiveTail on its one group's, or on `*` for several), so a
principal may read its own functions' logs only.

StartLiveTail answers an event stream (faas.eventstream): the JSON protocol's `initial-response`, a
`sessionStart`, then `sessionUpdate`s until the client goes, the node stops, or three hours are up
(`SessionTimeoutException`)."""

from __future__ import annotations

from typing import Any

import json

from aiohttp import web

from faas import eventstream
from faas.api.auth import operation
from faas.api.body import REQUEST_ID
from faas.api.awsjson import JsonService
from faas.api.context import services
from faas.api.router import params_of
from faas.services.logs import LogService


def _logs(request: web.Request) -> LogService:
    return services(request).logs


def _params(request: web.Request) -> dict[str, Any]:
    try:
        return params_of(request)
    except Exception:  # noqa: BLE001 (the handler refuses the bad body itself, in its own words)
        return {}


def _group_arn(request: web.Request) -> str:
    try:
        return _logs(request).group_arn(_logs(request).group_of(_params(request)))
    except Exception:  # noqa: BLE001
        return "*"


def _stream_arn(request: web.Request) -> str:
    params = _params(request)
    try:
        stream = params.get("logStreamName")
        return _logs(request).stream_arn(_logs(request).group_of(params), stream if isinstance(stream, str) else "*")
    except Exception:  # noqa: BLE001
        return "*"


def _all_groups(request: web.Request) -> str:
    return _logs(request).group_arn("*").removesuffix(":*")


def _live_tail_groups(request: web.Request) -> str:
    identifiers = _params(request).get("logGroupIdentifiers")
    if not isinstance(identifiers, list) or len(identifiers) != 1:
        return "*"
    try:
        return _logs(request).group_arn(_logs(request).group_of({"logGroupIdentifier": identifiers[0]}))
    except Exception:  # noqa: BLE001
        return "*"


@operation("logs:DescribeLogGroups", audited=False, resource=_all_groups)
async def describe_log_groups(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    groups, token = await _logs(request).describe_groups(params.get("logGroupNamePrefix"),
                                                         params.get("logGroupNamePattern"), params.get("limit"),
                                                         params.get("nextToken"))
    return {"logGroups": groups, **({"nextToken": token} if token else {})}


@operation("logs:DescribeLogStreams", audited=False, resource=_group_arn)
async def describe_log_streams(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    logs = _logs(request)
    streams, token = await logs.describe_streams(logs.group_of(params), params)
    return {"logStreams": streams, **({"nextToken": token} if token else {})}


@operation("logs:GetLogEvents", audited=False, resource=_stream_arn)
async def get_log_events(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    logs = _logs(request)
    return await logs.get_events(logs.group_of(params), params)


@operation("logs:FilterLogEvents", audited=False, resource=_group_arn)
async def filter_log_events(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    logs = _logs(request)
    return await logs.filter_events(logs.group_of(params), params)


@operation("logs:PutRetentionPolicy", resource=_group_arn)
async def put_retention_policy(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    logs = _logs(request)
    await logs.put_retention(logs.group_of(params), params.get("retentionInDays"))
    return {}


@operation("logs:DeleteRetentionPolicy", resource=_group_arn)
async def delete_retention_policy(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    logs = _logs(request)
    await logs.delete_retention(logs.group_of(params))
    return {}


@operation("logs:StartLiveTail", audited=False, resource=_live_tail_groups)
async def start_live_tail(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
    logs = _logs(request)
    tail = await logs.live_tail(params, request[REQUEST_ID])  # a bad request is refused before the stream starts
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/vnd.amazon.eventstream",
                                                       "x-amzn-RequestId": request[REQUEST_ID]})
    await response.prepare(request)
    try:
        await response.write(eventstream.event("initial-response", b"{}", "application/json"))
        await response.write(eventstream.event("sessionStart", json.dumps(tail.start).encode(), "application/json"))
        async for results in logs.live_updates(tail):
            update = {"sessionMetadata": {"sampled": False}, "sessionResults": results}
            await response.write(eventstream.event("sessionUpdate", json.dumps(update).encode(), "application/json"))
        if tail.timed_out:
            await response.write(eventstream.message(
                {":exception-type": "SessionTimeoutException", ":content-type": "application/json",
                 ":message-type": "exception"},
                json.dumps({"message": "The session has been open for three hours."}).encode()))
        await response.write_eof()
    except ConnectionError:  # the client went away: the session ends with it
        pass
    return response


LOGS = JsonService(
    signing_name="logs",
    target_prefix="Logs_20140328",
    error_namespace="com.amazonaws.logs",
    operations={
        "DescribeLogGroups": describe_log_groups, "DescribeLogStreams": describe_log_streams,
        "GetLogEvents": get_log_events, "FilterLogEvents": filter_log_events,
        "PutRetentionPolicy": put_retention_policy, "DeleteRetentionPolicy": delete_retention_policy,
        "StartLiveTail": start_live_tail,
    },
    # The platform's own refusals, in the codes CloudWatch Logs answers them with.
    common_codes={
        "ServiceException": "ServiceUnavailableException",
        "InvalidParameterValueException": "InvalidParameterException",
        "TooManyRequestsException": "ThrottlingException",
    },
    query_compatible=False,
)
