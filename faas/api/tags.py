"""Lambda's tagging routes on a function's ARN: TagResource, UntagResource, ListTags."""

from __future__ import annotations

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_json
from faas.api.context import services
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.services.functions import FUNCTION_REF_RE

API = "/2017-03-31/tags/{function}"


def _function(request: web.Request) -> str:
    """The function a tagging request names: by its full, unqualified ARN, as Lambda requires."""
    raw = request.match_info["function"]
    match = FUNCTION_REF_RE.fullmatch(raw)
    if not raw.startswith("arn:") or match is None or match.group("qualifier"):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{raw[:140]}' at 'resource' failed to satisfy constraint: "
            "Member must be the ARN of a function, without a version or alias "
            "(arn:aws:lambda:<region>:<account>:function:<name>)")
    name = match.group("name")
    if raw != services(request).settings.function_arn(name):  # another account's or region's function
        raise ResourceNotFound(f"Function not found: {raw}")
    return name


@operation("lambda:TagResource")
async def tag_resource(request: web.Request) -> web.Response:
    ctx = services(request)
    name = _function(request)
    await ctx.functions.tag(name, await read_json(request, "TagResource"))
    return web.Response(status=204)


@operation("lambda:UntagResource")
async def untag_resource(request: web.Request) -> web.Response:
    ctx = services(request)
    name = _function(request)
    await ctx.functions.untag(name, request.query.getall("tagKeys", []))
    return web.Response(status=204)


@operation("lambda:ListTags", audited=False)
async def list_tags(request: web.Request) -> web.Response:
    ctx = services(request)
    return web.json_response({"Tags": await ctx.functions.tags(_function(request))})


def add_routes(app: web.Application) -> None:
    app.router.add_post(API, tag_resource)
    app.router.add_delete(API, untag_resource)
    app.router.add_get(API, list_tags)
