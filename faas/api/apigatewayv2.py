"""API Gateway v2's REST routes for HTTP APIs (boto3's `apigatewayv2`, rest-json under /v2/apis): APIs, routes,
integrations, stages and JWT authorizers. IAM authorises them as API Gateway's actions: apigateway:<HTTP method> on the
resource's path, `arn:aws:apigateway:<region>::/apis/<api-id>/...`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faas.api.auth import Handler, operation
from faas.api.body import read_json
from faas.api.context import services
from faas.services.http_apis import HttpApiService

API = "/v2/apis"


def _apis(request: web.Request) -> HttpApiService:
    return services(request).http_apis


def _resource(request: web.Request) -> str:
    """The management ARN of what the path names: `/v2/apis/abc/routes/xyz` acts on `...::/apis/abc/routes/xyz`."""
    return _apis(request).arn(request.path[len("/v2"):].rstrip("/"))


def _id(request: web.Request, name: str = "api") -> str:
    return request.match_info[name]


def _items(items: list[dict]) -> web.Response:
    return web.json_response({"items": items})


async def _params(request: web.Request, operation_name: str) -> dict[str, Any]:
    return await read_json(request, operation_name)


@operation("apigateway:POST", resource=_resource)
async def create_api(request: web.Request) -> web.Response:
    api = await _apis(request).create_api(await _params(request, "CreateApi"), request.url.port)
    return web.json_response(api, status=201)


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_apis(request: web.Request) -> web.Response:
    return _items(await _apis(request).list_apis(request.url.port))


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_api(request: web.Request) -> web.Response:
    found = await _apis(request).get_api(_id(request))
    return web.json_response(_apis(request).api_shape(found.document, request.url.port))


@operation("apigateway:PATCH", resource=_resource)
async def update_api(request: web.Request) -> web.Response:
    api = await _apis(request).update_api(_id(request), await _params(request, "UpdateApi"), request.url.port)
    return web.json_response(api)


@operation("apigateway:DELETE", resource=_resource)
async def delete_api(request: web.Request) -> web.Response:
    await _apis(request).delete_api(_id(request))
    return web.Response(status=204)


# An API's children: each kind has the same five calls, on the service's `<verb>_<kind>` methods (with
# `list_<kind>s`), and only routes and integrations can be updated.
CHILDREN = (("routes", "route", "Route", True), ("integrations", "integration", "Integration", True),
            ("stages", "stage", "Stage", False), ("authorizers", "authorizer", "Authorizer", False))


def _child_handlers(key: str, shape: str, updatable: bool) -> dict[str, Handler]:
    """The create, list, get, update (when `updatable`) and delete handlers of one kind of an API's children."""

    def call(request: web.Request, verb: str):  # type: ignore[no-untyped-def]
        return getattr(_apis(request), f"{verb}_{key}")

    @operation("apigateway:POST", resource=_resource)
    async def create(request: web.Request) -> web.Response:
        made = await call(request, "create")(_id(request), await _params(request, f"Create{shape}"))
        return web.json_response(made, status=201)

    @operation("apigateway:GET", audited=False, resource=_resource)
    async def listing(request: web.Request) -> web.Response:
        return _items(await getattr(_apis(request), f"list_{key}s")(_id(request)))

    @operation("apigateway:GET", audited=False, resource=_resource)
    async def get(request: web.Request) -> web.Response:
        return web.json_response(await call(request, "get")(_id(request), _id(request, key)))

    @operation("apigateway:PATCH", resource=_resource)
    async def update(request: web.Request) -> web.Response:
        params = await _params(request, f"Update{shape}")
        return web.json_response(await call(request, "update")(_id(request), _id(request, key), params))

    @operation("apigateway:DELETE", resource=_resource)
    async def delete(request: web.Request) -> web.Response:
        await call(request, "delete")(_id(request), _id(request, key))
        return web.Response(status=204)

    handlers = {"create": create, "list": listing, "get": get, "delete": delete}
    if updatable:
        handlers["update"] = update
    return handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(API, create_api)
    router.add_get(API, get_apis)
    router.add_get(API + "/{api}", get_api)
    router.add_patch(API + "/{api}", update_api)
    router.add_delete(API + "/{api}", delete_api)
    for kind, key, shape, updatable in CHILDREN:
        handlers = _child_handlers(key, shape, updatable)
        router.add_post(f"{API}/{{api}}/{kind}", handlers["create"])
        router.add_get(f"{API}/{{api}}/{kind}", handlers["list"])
        router.add_get(f"{API}/{{api}}/{kind}/{{{key}}}", handlers["get"])
        if updatable:
            router.add_patch(f"{API}/{{api}}/{kind}/{{{key}}}", handlers["update"])
        router.add_delete(f"{API}/{{api}}/{kind}/{{{key}}}", handlers["delete"])
