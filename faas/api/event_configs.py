"""Lambda's event-invoke-config routes: retries, event age and destinations of async invocations."""

from __future__ import annotations

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_json
from faas.api.context import function_name, services
from faas.model import Function

API = "/2019-09-25/functions/{function}/event-invoke-config"


async def _function(request: web.Request) -> Function:
    name = function_name(request)
    return await services(request).functions.get(name)  # 404 for an unknown function


async def _name(request: web.Request) -> str:
    return (await _function(request)).name


@operation("lambda:PutFunctionEventInvokeConfig")
async def put_config(request: web.Request) -> web.Response:
    ctx = services(request)
    fn = await _function(request)
    params = await read_json(request, "PutFunctionEventInvokeConfig")
    config = await ctx.event_configs.put(fn.name, fn.role, params, merge=False)
    return web.json_response(ctx.event_configs.shape(config))


@operation("lambda:UpdateFunctionEventInvokeConfig")
async def update_config(request: web.Request) -> web.Response:
    ctx = services(request)
    fn = await _function(request)
    params = await read_json(request, "UpdateFunctionEventInvokeConfig")
    config = await ctx.event_configs.put(fn.name, fn.role, params, merge=True)
    return web.json_response(ctx.event_configs.shape(config))


@operation("lambda:GetFunctionEventInvokeConfig", audited=False)
async def get_config(request: web.Request) -> web.Response:
    ctx = services(request)
    return web.json_response(ctx.event_configs.shape(await ctx.event_configs.get(await _name(request))))


@operation("lambda:ListFunctionEventInvokeConfigs", audited=False)
async def list_configs(request: web.Request) -> web.Response:
    ctx = services(request)
    config = await ctx.event_configs.effective_or_none(await _name(request))
    return web.json_response({"FunctionEventInvokeConfigs": [ctx.event_configs.shape(config)] if config else []})


@operation("lambda:DeleteFunctionEventInvokeConfig")
async def delete_config(request: web.Request) -> web.Response:
    ctx = services(request)
    await ctx.event_configs.delete(await _name(request))
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_put(API, put_config)
    app.router.add_post(API, update_config)
    app.router.add_get(API, get_config)
    app.router.add_delete(API, delete_config)
    app.router.add_get(API + "/list", list_configs)
