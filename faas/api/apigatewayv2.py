"""API Gateway v2's REST routes for HTTP APIs (boto3's `apigatewayv2`, rest-json under /v2/apis): APIs, routes,
integrations, stages and JWT authorizers. IAM authorises them as API Gateway's actions: apigateway:<HTTP method> on the
resource's path, `arn:aws:apigateway:<region>::/apis/<api-id>/...`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faas.api.auth import operation
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


@operation("apigateway:POST", resource=_resource)
async def create_route(request: web.Request) -> web.Response:
    route = await _apis(request).create_route(_id(request), await _params(request, "CreateRoute"))
    return web.json_response(route, status=201)


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_routes(request: web.Request) -> web.Response:
    return _items(await _apis(request).list_routes(_id(request)))


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_route(request: web.Request) -> web.Response:
    return web.json_response(await _apis(request).get_route(_id(request), _id(request, "route")))


@operation("apigateway:PATCH", resource=_resource)
async def update_route(request: web.Request) -> web.Response:
    route = await _apis(request).update_route(_id(request), _id(request, "route"),
                                              await _params(request, "UpdateRoute"))
    return web.json_response(route)


@operation("apigateway:DELETE", resource=_resource)
async def delete_route(request: web.Request) -> web.Response:
    await _apis(request).delete_route(_id(request), _id(request, "route"))
    return web.Response(status=204)


@operation("apigateway:POST", resource=_resource)
async def create_integration(request: web.Request) -> web.Response:
    integration = await _apis(request).create_integration(_id(request), await _params(request, "CreateIntegration"))
    return web.json_response(integration, status=201)


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_integrations(request: web.Request) -> web.Response:
    return _items(await _apis(request).list_integrations(_id(request)))


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_integration(request: web.Request) -> web.Response:
    return web.json_response(await _apis(request).get_integration(_id(request), _id(request, "integration")))


@operation("apigateway:PATCH", resource=_resource)
async def update_integration(request: web.Request) -> web.Response:
    integration = await _apis(request).update_integration(_id(request), _id(request, "integration"),
                                                          await _params(request, "UpdateIntegration"))
    return web.json_response(integration)


@operation("apigateway:DELETE", resource=_resource)
async def delete_integration(request: web.Request) -> web.Response:
    await _apis(request).delete_integration(_id(request), _id(request, "integration"))
    return web.Response(status=204)


@operation("apigateway:POST", resource=_resource)
async def create_stage(request: web.Request) -> web.Response:
    stage = await _apis(request).create_stage(_id(request), await _params(request, "CreateStage"))
    return web.json_response(stage, status=201)


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_stages(request: web.Request) -> web.Response:
    return _items(await _apis(request).list_stages(_id(request)))


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_stage(request: web.Request) -> web.Response:
    return web.json_response(await _apis(request).get_stage(_id(request), _id(request, "stage")))


@operation("apigateway:DELETE", resource=_resource)
async def delete_stage(request: web.Request) -> web.Response:
    await _apis(request).delete_stage(_id(request), _id(request, "stage"))
    return web.Response(status=204)


@operation("apigateway:POST", resource=_resource)
async def create_authorizer(request: web.Request) -> web.Response:
    authorizer = await _apis(request).create_authorizer(_id(request), await _params(request, "CreateAuthorizer"))
    return web.json_response(authorizer, status=201)


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_authorizers(request: web.Request) -> web.Response:
    return _items(await _apis(request).list_authorizers(_id(request)))


@operation("apigateway:GET", audited=False, resource=_resource)
async def get_authorizer(request: web.Request) -> web.Response:
    return web.json_response(await _apis(request).get_authorizer(_id(request), _id(request, "authorizer")))


@operation("apigateway:DELETE", resource=_resource)
async def delete_authorizer(request: web.Request) -> web.Response:
    await _apis(request).delete_authorizer(_id(request), _id(request, "authorizer"))
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(API, create_api)
    router.add_get(API, get_apis)
    router.add_get(API + "/{api}", get_api)
    router.add_patch(API + "/{api}", update_api)
    router.add_delete(API + "/{api}", delete_api)
    for kind, key, create, listing, get, update, delete in (
        ("routes", "route", create_route, get_routes, get_route, update_route, delete_route),
        ("integrations", "integration", create_integration, get_integrations, get_integration, update_integration,
         delete_integration),
        ("stages", "stage", create_stage, get_stages, get_stage, None, delete_stage),
        ("authorizers", "authorizer", create_authorizer, get_authorizers, get_authorizer, None, delete_authorizer),
    ):
        router.add_post(f"{API}/{{api}}/{kind}", create)
        router.add_get(f"{API}/{{api}}/{kind}", listing)
        router.add_get(f"{API}/{{api}}/{kind}/{{{key}}}", get)
        if update is not None:
            router.add_patch(f"{API}/{{api}}/{kind}/{{{key}}}", update)
        router.add_delete(f"{API}/{{api}}/{kind}/{{{key}}}", delete)
