"""Concurrency routes: reserved concurrency per function, and the node's limits as account settings."""

from __future__ import annotations

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_json
from faas.api.context import function_name, services
from faas.zips import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES

# Lambda's default storage quota for all code, reported as is.
TOTAL_CODE_SIZE = 75 * 1024 ** 3


@operation("lambda:PutFunctionConcurrency")
async def put_concurrency(request: web.Request) -> web.Response:
    ctx = services(request)
    name = function_name(request, qualified=False)
    reserved = await ctx.functions.put_concurrency(name, await read_json(request, "PutFunctionConcurrency"))
    return web.json_response({"ReservedConcurrentExecutions": reserved})


@operation("lambda:GetFunctionConcurrency", audited=False)
async def get_concurrency(request: web.Request) -> web.Response:
    ctx = services(request)
    fn = await ctx.functions.get(function_name(request, qualified=False))
    if fn.reserved_concurrency is None:
        return web.json_response({})
    return web.json_response({"ReservedConcurrentExecutions": fn.reserved_concurrency})


@operation("lambda:DeleteFunctionConcurrency")
async def delete_concurrency(request: web.Request) -> web.Response:
    ctx = services(request)
    await ctx.functions.delete_concurrency(function_name(request, qualified=False))
    return web.Response(status=204)


@operation("lambda:GetAccountSettings", audited=False)
async def account_settings(request: web.Request) -> web.Response:
    ctx = services(request)
    limiter = ctx.invoker.limiter
    count, code_size = await ctx.functions.usage()
    return web.json_response({
        "AccountLimit": {
            "TotalCodeSize": TOTAL_CODE_SIZE,
            "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
            "CodeSizeZipped": MAX_ZIP_BYTES,
            "ConcurrentExecutions": limiter.node_limit,
            "UnreservedConcurrentExecutions": limiter.unreserved_limit,
        },
        "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": count},
    })


def add_routes(app: web.Application) -> None:
    app.router.add_put("/2017-10-31/functions/{function}/concurrency", put_concurrency)
    app.router.add_delete("/2017-10-31/functions/{function}/concurrency", delete_concurrency)
    app.router.add_get("/2019-09-30/functions/{function}/concurrency", get_concurrency)
    app.router.add_get("/2016-08-19/account-settings", account_settings)
    app.router.add_get("/2016-08-19/account-settings/", account_settings)
