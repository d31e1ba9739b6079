"""Lambda's event-source-mapping routes: create, get, update, delete and list mappings of SQS queues."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_json
from faas.api.context import services
from faas.services.mappings import MappingService

API = "/2015-03-31/event-source-mappings"


def _mappings(request: web.Request) -> MappingService:
    return services(request).mappings


def _mapping_arn(request: web.Request) -> str:
    """Get, update and delete act on the mapping's own ARN, as IAM authorises them."""
    return _mappings(request).arn(request.match_info["uuid"])


@operation("lambda:CreateEventSourceMapping")
async def create_mapping(request: web.Request) -> web.Response:
    params = await read_json(request, "CreateEventSourceMapping")
    mapping = await _mappings(request).create(params)
    return web.json_response(_mappings(request).shape(mapping), status=202)


@operation("lambda:GetEventSourceMapping", audited=False, resource=_mapping_arn)
async def get_mapping(request: web.Request) -> web.Response:
    mapping = await _mappings(request).get(request.match_info["uuid"])
    return web.json_response(_mappings(request).shape(mapping))


@operation("lambda:UpdateEventSourceMapping", resource=_mapping_arn)
async def update_mapping(request: web.Request) -> web.Response:
    params = await read_json(request, "UpdateEventSourceMapping")
    mapping = await _mappings(request).update(request.match_info["uuid"], params)
    return web.json_response(_mappings(request).shape(mapping), status=202)


@operation("lambda:DeleteEventSourceMapping", resource=_mapping_arn)
async def delete_mapping(request: web.Request) -> web.Response:
    mapping = await _mappings(request).delete(request.match_info["uuid"])
    return web.json_response(_mappings(request).shape(mapping), status=202)


@operation("lambda:ListEventSourceMappings", audited=False)
async def list_mappings(request: web.Request) -> web.Response:
    query = request.query
    page, next_marker = await _mappings(request).list(query.get("FunctionName"), query.get("EventSourceArn"),
                                                      query.get("Marker"), query.get("MaxItems"))
    body: dict[str, Any] = {"EventSourceMappings": [_mappings(request).shape(mapping) for mapping in page]}
    if next_marker:
        body["NextMarker"] = next_marker
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    for path in (API, API + "/"):
        app.router.add_post(path, create_mapping)
        app.router.add_get(path, list_mappings)
    app.router.add_get(API + "/{uuid}", get_mapping)
    app.router.add_put(API + "/{uuid}", update_mapping)
    app.router.add_delete(API + "/{uuid}", delete_mapping)
