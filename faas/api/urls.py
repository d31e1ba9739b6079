"""Function URLs: the Lambda control-plane routes for their configuration, and the plain HTTP endpoint
webhooks and browsers call, host-style (`<url-id>.<domain>`) or path-style (`/lambda-url/<url-id>/`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import OPERATION, REQUEST_ID, read_json
from faas.api.context import function_name, services
from faas.errors import ResourceNotFound
from faas.sources.urls import UrlSource

API = "/2021-10-31/functions/{function}"
PATH_PREFIX = "/lambda-url/"


async def _name(request: web.Request) -> str:
    name = function_name(request)
    await services(request).functions.get(name)
    return name


@operation("lambda:CreateFunctionUrlConfig")
async def create_url(request: web.Request) -> web.Response:
    ctx = services(request)
    config = await ctx.urls.create(await _name(request), await read_json(request, "CreateFunctionUrlConfig"))
    return web.json_response(ctx.urls.shape(config, request.url.port), status=201)


@operation("lambda:GetFunctionUrlConfig", audited=False)
async def get_url(request: web.Request) -> web.Response:
    ctx = services(request)
    return web.json_response(ctx.urls.shape(await ctx.urls.get(await _name(request)), request.url.port))


@operation("lambda:UpdateFunctionUrlConfig")
async def update_url(request: web.Request) -> web.Response:
    ctx = services(request)
    config = await ctx.urls.update(await _name(request), await read_json(request, "UpdateFunctionUrlConfig"))
    return web.json_response(ctx.urls.shape(config, request.url.port))


@operation("lambda:DeleteFunctionUrlConfig")
async def delete_url(request: web.Request) -> web.Response:
    await services(request).urls.delete(await _name(request))
    return web.Response(status=204)


@operation("lambda:ListFunctionUrlConfigs", audited=False)
async def list_urls(request: web.Request) -> web.Response:
    ctx = services(request)
    name = await _name(request)  # an unknown function is a 404, not an empty list
    try:
        configs = [ctx.urls.shape(await ctx.urls.get(name), request.url.port)]
    except ResourceNotFound:
        configs = []
    return web.json_response({"FunctionUrlConfigs": configs})


# -- the URLs themselves: served by the URL source (faas.sources.urls) ----------------------------------

URL_SOURCE = web.AppKey("url_source", UrlSource)


@operation("lambda:InvokeFunctionUrl", open=True, audited=False)  # the URL source authorises it itself
async def path_style(request: web.Request) -> web.StreamResponse:
    url_id = request.match_info["url_id"]
    # The path as received (still percent-encoded), after /lambda-url/<url-id>.
    raw_path = request.raw_path.split("?", 1)[0][len(PATH_PREFIX) + len(url_id):] or "/"
    return await request.app[URL_SOURCE].serve(request, url_id, raw_path, request[REQUEST_ID])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_style(domain: str):  # type: ignore[no-untyped-def]
    """Middleware: a request for `<url-id>.<domain>` is a function URL whatever its path."""
    suffix = "." + domain.lower()

    @web.middleware
    async def route(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = (request.host or "").rsplit(":", 1)[0].lower() if not (request.host or "").startswith("[") else ""
        if host.endswith(suffix):
            url_id = host[: -len(suffix)]
            if url_id and "." not in url_id:
                request[OPERATION] = path_style.action  # type: ignore[attr-defined]
                return await request.app[URL_SOURCE].serve(request, url_id, request.raw_path, request[REQUEST_ID])
        return await handler(request)

    return route


def add_routes(app: web.Application) -> None:
    app.router.add_post(API + "/url", create_url)
    app.router.add_get(API + "/url", get_url)
    app.router.add_put(API + "/url", update_url)
    app.router.add_delete(API + "/url", delete_url)
    app.router.add_get(API + "/urls", list_urls)
    app.router.add_route("*", PATH_PREFIX + "{url_id}", path_style)
    app.router.add_route("*", PATH_PREFIX + "{url_id}/{tail:.*}", path_style)
