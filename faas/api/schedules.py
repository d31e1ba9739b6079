"""EventBridge Scheduler's REST routes (boto3's `scheduler` client, rest-json): schedules at /schedules/{Name}
and schedule groups at /schedule-groups/{Name}, each authorised as scheduler:<Operation> on its ARN."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import BODY, parse_json, read_json
from faas.api.context import services
from faas.services.schedules import ScheduleService
from faas.store.schedules import DEFAULT_GROUP


def _schedules(request: web.Request) -> ScheduleService:
    return services(request).schedules


def _group_in_body(request: web.Request) -> str:
    try:
        group = parse_json(request, request[BODY]).get("GroupName") if request[BODY].strip() else None
    except (ValueError, AttributeError):
        group = None  # the handler refuses the body itself
    return group if isinstance(group, str) else DEFAULT_GROUP


def _schedule_arn(request: web.Request) -> str:
    """A schedule's ARN names its group: from the body (create, update) or the query (get, delete)."""
    group = request.query.get("groupName") if request.method in ("GET", "DELETE") else _group_in_body(request)
    return _schedules(request).arn(group or DEFAULT_GROUP, request.match_info["name"])


def _group_arn(request: web.Request) -> str:
    return _schedules(request).group_arn(request.match_info["name"])


@operation("scheduler:CreateSchedule", resource=_schedule_arn)
async def create_schedule(request: web.Request) -> web.Response:
    schedule = await _schedules(request).create(request.match_info["name"], await read_json(request, "CreateSchedule"))
    return web.json_response({"ScheduleArn": _schedules(request).arn(schedule.group_name, schedule.name)})


@operation("scheduler:UpdateSchedule", resource=_schedule_arn)
async def update_schedule(request: web.Request) -> web.Response:
    schedule = await _schedules(request).update(request.match_info["name"], await read_json(request, "UpdateSchedule"))
    return web.json_response({"ScheduleArn": _schedules(request).arn(schedule.group_name, schedule.name)})


@operation("scheduler:GetSchedule", audited=False, resource=_schedule_arn)
async def get_schedule(request: web.Request) -> web.Response:
    schedule = await _schedules(request).get(request.match_info["name"], request.query.get("groupName"))
    return web.json_response(_schedules(request).shape(schedule))


@operation("scheduler:DeleteSchedule", resource=_schedule_arn)
async def delete_schedule(request: web.Request) -> web.Response:
    await _schedules(request).delete(request.match_info["name"], request.query.get("groupName"))
    return web.json_response({})


@operation("scheduler:ListSchedules", audited=False)
async def list_schedules(request: web.Request) -> web.Response:
    query = request.query
    page, token = await _schedules(request).list(query.get("ScheduleGroup"), query.get("NamePrefix"),
                                                 query.get("State"), query.get("NextToken"), query.get("MaxResults"))
    body: dict[str, Any] = {"Schedules": [_schedules(request).summary(schedule) for schedule in page]}
    if token:
        body["NextToken"] = token
    return web.json_response(body)


@operation("scheduler:CreateScheduleGroup", resource=_group_arn)
async def create_group(request: web.Request) -> web.Response:
    group = await _schedules(request).create_group(request.match_info["name"],
                                                   await read_json(request, "CreateScheduleGroup"))
    return web.json_response({"ScheduleGroupArn": _schedules(request).group_arn(group.name)})


@operation("scheduler:GetScheduleGroup", audited=False, resource=_group_arn)
async def get_group(request: web.Request) -> web.Response:
    group = await _schedules(request).get_group(request.match_info["name"])
    return web.json_response(_schedules(request).group_shape(group))


@operation("scheduler:DeleteScheduleGroup", resource=_group_arn)
async def delete_group(request: web.Request) -> web.Response:
    await _schedules(request).delete_group(request.match_info["name"])
    return web.json_response({})


@operation("scheduler:ListScheduleGroups", audited=False)
async def list_groups(request: web.Request) -> web.Response:
    query = request.query
    page, token = await _schedules(request).list_groups(query.get("NamePrefix"), query.get("NextToken"),
                                                        query.get("MaxResults"))
    body: dict[str, Any] = {"ScheduleGroups": [_schedules(request).group_shape(group) for group in page]}
    if token:
        body["NextToken"] = token
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/schedules", list_schedules)
    app.router.add_post("/schedules/{name}", create_schedule)
    app.router.add_get("/schedules/{name}", get_schedule)
    app.router.add_put("/schedules/{name}", update_schedule)
    app.router.add_delete("/schedules/{name}", delete_schedule)
    app.router.add_get("/schedule-groups", list_groups)
    app.router.add_post("/schedule-groups/{name}", create_group)
    app.router.add_get("/schedule-groups/{name}", get_group)
    app.router.add_delete("/schedule-groups/{name}", delete_group)
