"""HTTP APIs' own endpoint, served by the HTTP API source (faas.sources.http_apis): host-style
(`<api-id>.execute-api.<FAAS_URL_DOMAIN>`, as API Gateway's `<api-id>.execute-api.<region>.amazonaws.com`)
or path-style (`/execute-api/<api-id>/...`), each followed by the path API Gateway would see: a named
stage's name first, or the `$default` stage's path as it is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import OPERATION, REQUEST_ID
from faas.sources.http_apis import HttpApiSource

PATH_PREFIX = "/execute-api/"
API_SOURCE = web.AppKey("http_api_source", HttpApiSource)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@operation("execute-api:Invoke", open=True, audited=False)  # the source authorises each route itself
async def path_style(request: web.Request) -> web.StreamResponse:
    api_id = request.match_info["api_id"]
    raw_path = request.raw_path.split("?", 1)[0][len(PATH_PREFIX) + len(api_id):] or "/"
    return await request.app[API_SOURCE].serve(request, api_id, raw_path, request[REQUEST_ID])


def host_style(domain: str):  # type: ignore[no-untyped-def]
    """Middleware: a request for `<api-id>.execute-api.<domain>` goes to that API whatever its path."""
    suffix = ".execute-api." + domain.lower()

    @web.middleware
    async def route(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = (request.host or "").rsplit(":", 1)[0].lower() if not (request.host or "").startswith("[") else ""
        if host.endswith(suffix):
            api_id = host[: -len(suffix)]
            if api_id and "." not in api_id:
                request[OPERATION] = path_style.action  # type: ignore[attr-defined]
                return await request.app[API_SOURCE].serve(request, api_id, request.raw_path, request[REQUEST_ID])
        return await handler(request)

    return route


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", PATH_PREFIX + "{api_id}", path_style)
    app.router.add_route("*", PATH_PREFIX + "{api_id}/{tail:.*}", path_style)
