"""Lambda's function-policy routes: AddPermission, RemovePermission, GetPolicy."""

from __future__ import annotations

import json

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_json
from faas.api.context import function_name, services

API = "/2015-03-31/functions/{function}/policy"


@operation("lambda:AddPermission")
async def add_permission(request: web.Request) -> web.Response:
    ctx = services(request)
    name = function_name(request)
    await ctx.functions.get(name)
    statement = await ctx.permissions.add(name, await read_json(request, "AddPermission"))
    return web.json_response({"Statement": json.dumps(statement)}, status=201)


@operation("lambda:RemovePermission")
async def remove_permission(request: web.Request) -> web.Response:
    ctx = services(request)
    name = function_name(request)
    await ctx.functions.get(name)
    await ctx.permissions.remove(name, request.match_info["sid"])
    return web.Response(status=204)


@operation("lambda:GetPolicy", audited=False)
async def get_policy(request: web.Request) -> web.Response:
    ctx = services(request)
    name = function_name(request)
    await ctx.functions.get(name)
    document, revision = await ctx.permissions.document(name)
    return web.json_response({"Policy": json.dumps(document), "RevisionId": revision})


def add_routes(app: web.Application) -> None:
    app.router.add_post(API, add_permission)
    app.router.add_get(API, get_policy)
    app.router.add_delete(API + "/{sid}", remove_permission)
