"""Lambda control-plane routes for functions: create, read, list, update, delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web

from faas.api.auth import CALLER, operation, permits
from faas.api.body import CODE_LIMIT, read_json
from faas.api.context import function_name, services
from faas.errors import AccessDenied, InvalidParameterValue
from faas.model import LATEST, Function, timestamp_ms
from faas.services.code import CodeInfo
from faas.settings import Settings

API = "/2015-03-31/functions"
MAX_LIST_ITEMS = 50
# Environment variables are secrets: an answer shows them only to a caller who may read them this way.
READ_VARIABLES = "lambda:GetFunctionConfiguration"
TAG = "lambda:TagResource"
LIST_TAGS = "lambda:ListTags"


def last_modified(value: dt.datetime) -> str:
    """Lambda's own format: 2020-04-10T19:06:32.563+0000."""
    return timestamp_ms(value.astimezone(dt.timezone.utc), "+0000")


def configuration(fn: Function, settings: Settings, *, variables: bool = False) -> dict[str, Any]:
    """Lambda's FunctionConfiguration; `Environment` only when `variables` (the caller may read them)."""
    shape: dict[str, Any] = {
        "FunctionName": fn.name,
        "FunctionArn": settings.function_arn(fn.name),
        "Role": fn.role,
        "CodeSize": fn.code_size,
        "Description": fn.description,
        "Timeout": fn.timeout,
        "MemorySize": fn.memory_size,
        "LastModified": last_modified(fn.last_modified),
        "Version": LATEST,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": fn.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": fn.package_type,
        "Architectures": [fn.architecture],
        "EphemeralStorage": {"Size": fn.ephemeral_storage},
        "LoggingConfig": {"LogFormat": "Text", **fn.logging_config, "LogGroup": f"/aws/lambda/{fn.name}"},
    }
    if fn.dead_letter_target:
        shape["DeadLetterConfig"] = {"TargetArn": fn.dead_letter_target}
    if fn.package_type == "Zip":
        shape.update(Runtime=fn.runtime, Handler=fn.handler,
                     CodeSha256=CodeInfo(fn.code_sha256 or "", fn.code_size, 0).sha256_b64)
    else:
        shape["CodeSha256"] = ""
        if fn.image_config:
            shape["ImageConfigResponse"] = {"ImageConfig": fn.image_config}
    if variables and fn.environment:
        shape["Environment"] = {"Variables": dict(fn.environment)}
    return shape


def reads_variables(request: web.Request) -> Callable[[str], bool]:
    """Whether the request's caller may read a function's variables, by the function's name."""
    caller, settings = request[CALLER], services(request).settings
    return lambda name: permits(caller, READ_VARIABLES, settings.function_arn(name))


def _name(request: web.Request) -> str:
    return function_name(request)


@operation("lambda:CreateFunction", body_limit=CODE_LIMIT)
async def create_function(request: web.Request) -> web.Response:
    ctx = services(request)
    params = await read_json(request, "CreateFunction", CODE_LIMIT)
    if params.get("Tags") and isinstance(params.get("FunctionName"), str):
        # As on AWS, tagging at creation needs the right to tag as well as the right to create.
        arn = ctx.settings.function_arn(params["FunctionName"])
        if not permits(request[CALLER], TAG, arn):
            raise AccessDenied(f"User: {request[CALLER].arn} is not authorized to perform: {TAG} on resource: {arn}")
    fn = await ctx.functions.create(params, owner=request[CALLER].arn)
    return web.json_response(configuration(fn, ctx.settings, variables=reads_variables(request)(fn.name)),
                             status=201)


@operation("lambda:ListFunctions", audited=False)
async def list_functions(request: web.Request) -> web.Response:
    ctx = services(request)
    raw = request.query.get("MaxItems", str(MAX_LIST_ITEMS))
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise InvalidParameterValue("MaxItems must be an integer between 1 and 10000")
    # ListFunctions acts on "*": a caller that may list but not read a function sees it without its
    # variables, which are then not even decrypted.
    readable = reads_variables(request)
    page, next_marker = await ctx.functions.list(request.query.get("Marker") or None,
                                                 min(int(raw), MAX_LIST_ITEMS), unseal=readable)
    body: dict[str, Any] = {"Functions": [configuration(fn, ctx.settings, variables=readable(fn.name))
                                          for fn in page]}
    if next_marker:
        body["NextMarker"] = next_marker
    return web.json_response(body)


@operation("lambda:GetFunction", audited=False)
async def get_function(request: web.Request) -> web.Response:
    ctx = services(request)
    fn = await ctx.functions.get(_name(request))
    if fn.package_type == "Zip":
        code = {"RepositoryType": "S3",
                "Location": f"{request.scheme}://{request.host}/faas/v1/functions/{fn.name}/code"}
    else:
        code = {"RepositoryType": "ECR", "ImageUri": fn.image_uri, "ResolvedImageUri": fn.image_uri}
    # As in AWS, lambda:GetFunction (already checked on this function) is enough to read the variables.
    body: dict[str, Any] = {"Configuration": configuration(fn, ctx.settings, variables=True), "Code": code}
    # As on AWS, the tags come with the function only for a caller that may list them; others learn why not.
    arn = ctx.settings.function_arn(fn.name)
    if permits(request[CALLER], LIST_TAGS, arn):
        body["Tags"] = await ctx.functions.tags(fn.name)
    else:
        body["TagsError"] = {"ErrorCode": "AccessDeniedException",
                             "Message": f"User: {request[CALLER].arn} is not authorized to perform: {LIST_TAGS} "
                                        f"on resource: {arn}"}
    if fn.reserved_concurrency is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved_concurrency}
    return web.json_response(body)


@operation("lambda:GetFunctionConfiguration", audited=False)
async def get_configuration(request: web.Request) -> web.Response:
    ctx = services(request)
    fn = await ctx.functions.get(_name(request))
    return web.json_response(configuration(fn, ctx.settings, variables=True))  # READ_VARIABLES, checked


@operation("lambda:UpdateFunctionCode", body_limit=CODE_LIMIT)
async def update_code(request: web.Request) -> web.Response:
    ctx = services(request)
    name = _name(request)
    params = await read_json(request, "UpdateFunctionCode", CODE_LIMIT)
    fn = await ctx.functions.update_code(name, params)
    ctx.retire(name)
    return web.json_response(configuration(fn, ctx.settings, variables=reads_variables(request)(fn.name)))


@operation("lambda:UpdateFunctionConfiguration")
async def update_configuration(request: web.Request) -> web.Response:
    ctx = services(request)
    name = _name(request)
    params = await read_json(request, "UpdateFunctionConfiguration")
    revision_before = (await ctx.functions.get(name)).revision_id
    fn = await ctx.functions.update_configuration(name, params)
    if fn.revision_id != revision_before:  # the same settings again keep the warm environments
        ctx.retire(name)
    return web.json_response(configuration(fn, ctx.settings, variables=reads_variables(request)(fn.name)))


@operation("lambda:DeleteFunction")
async def delete_function(request: web.Request) -> web.Response:
    ctx = services(request)
    name = _name(request)
    await ctx.functions.delete(name)
    ctx.retire(name)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_post(API, create_function)
    app.router.add_post(API + "/", create_function)
    app.router.add_get(API, list_functions)
    app.router.add_get(API + "/", list_functions)
    app.router.add_get(API + "/{function}", get_function)
    app.router.add_get(API + "/{function}/configuration", get_configuration)
    app.router.add_put(API + "/{function}/code", update_code)
    app.router.add_put(API + "/{function}/configuration", update_configuration)
    app.router.add_delete(API + "/{function}", delete_function)
