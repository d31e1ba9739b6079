"""Function URLs: the Lambda control-plane routes for their configuration, and the plain HTTP endpoint
webhooks and browsers call, host-style (`<url-id>.<domain>`) or path-style (`/lambda-url/<url-id>/`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.auth import GUARD, InvalidSignature, UnrecognizedClient, operation
from faas.api.body import BODY, REQUEST_ID, read_json
from faas.api.context import services
from faas.errors import AccessDenied, ApiError, RequestTooLarge, ResourceNotFound, TooManyRequests
from faas.model import utcnow
from faas.security import sigv4
from faas.services.functions import parse_function_ref
from faas.services.identities import Caller
from faas.sources import cors, url_events

API = "/2021-10-31/functions/{function}"
PATH_PREFIX = "/lambda-url/"
MAX_BODY = 6 * 1024 * 1024


async def _name(request: web.Request) -> str:
    name = parse_function_ref(request.match_info["function"], request.query.get("Qualifier"))
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


# -- the URLs themselves ------------------------------------------------------------------------------

# A request to a NONE URL: no credentials, no identity policies; only principal "*" in the function's
# policy can allow it.
ANONYMOUS = Caller(arn="anonymous", name="anonymous", kind="anonymous", documents=())
# Lambda's answer to a refused URL request, whatever the reason (it tells an anonymous caller nothing more).
FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see the Function URLs "
             "section of the platform's docs/SECURITY.md")


def _plain(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"Message": message}, status=status, headers=headers)


@operation("lambda:InvokeFunctionUrl", open=True, audited=False)  # serve_url authorises it itself
async def path_style(request: web.Request) -> web.StreamResponse:
    url_id = request.match_info["url_id"]
    # The path as received (still percent-encoded), after /lambda-url/<url-id>.
    raw_path = request.raw_path.split("?", 1)[0][len(PATH_PREFIX) + len(url_id):] or "/"
    return await serve_url(request, url_id, raw_path)


async def serve_url(request: web.Request, url_id: str, raw_path: str) -> web.StreamResponse:
    ctx = services(request)
    config = await ctx.urls.for_url_id(url_id)
    if config is None:
        return _plain(404, "Not Found")
    try:
        fn = await ctx.functions.get(config.function_name)
    except ResourceNotFound:
        return _plain(404, "Not Found")
    headers = {k: v for k, v in request.headers.items()}
    answered = cors.preflight(config.cors, request.method, headers)
    if answered is not None:
        status, allowed = answered
        return web.Response(status=status, headers=allowed)

    request_id = request[REQUEST_ID]
    guard = request.app[GUARD]
    arn = ctx.settings.function_arn(fn.name)
    caller: Caller | None = None
    action = "lambda:InvokeFunctionUrl"
    authorizer = None
    try:
        if config.auth_type == "AWS_IAM":
            caller = await guard.authenticate(request, MAX_BODY)
            authorizer = _identity(request, caller, ctx.settings.account_id)
        else:
            caller = ANONYMOUS
        # Both permissions, before the body is read: a refused request never reaches the function.
        for action, context in url_events.URL_PERMISSIONS[config.auth_type]:
            await guard.authorize(caller, action, arn, fn.name, context)
        # An AWS_IAM request's body was read (and hashed for its signature) by authenticate().
        body = request[BODY] if config.auth_type == "AWS_IAM" else await _read(request)
    except (UnrecognizedClient, InvalidSignature, AccessDenied) as refusal:
        if config.auth_type == "AWS_IAM":
            # Someone tried to use credentials: like every refusal on the API, it goes to the audit log.
            # NONE URLs are for anyone on the network, who could fill the log with refusals.
            guard.record(request, caller, action, arn, refusal.status, "denied")
        return _plain(403, FORBIDDEN, {"x-amzn-ErrorType": AccessDenied.code, "x-amzn-RequestId": request_id})
    except RequestTooLarge:
        return _plain(413, "Request Entity Too Large")

    event = url_events.build_event(url_events.HttpRequest(
        method=request.method, raw_path=raw_path.split("?", 1)[0], raw_query=request.rel_url.raw_query_string,
        headers=list(request.headers.items()), body=body, source_ip=request.remote or "", url_id=url_id,
        domain_name=request.host, account_id=ctx.settings.account_id, request_id=request_id, now=utcnow(),
        authorizer_iam=authorizer))
    try:
        result = await ctx.invoker.invoke(fn, json.dumps(event).encode())
    except TooManyRequests:
        return _plain(429, "Rate Exceeded.")
    except ApiError:
        return _plain(502, "Internal Server Error")
    status, response_headers, response_body = url_events.response_from_result(result.body, result.function_error)
    response = web.Response(status=status, body=response_body)
    for name, value in response_headers + cors.cors_headers(config.cors, headers):
        response.headers.add(name, value)
    response.headers["x-amzn-RequestId"] = result.request_id
    return response


def _identity(request: web.Request, caller: Caller, account_id: str) -> dict:
    """requestContext.authorizer.iam for a caller authenticate() just accepted."""
    try:  # the access key id of a SigV4 request; a bearer token has none
        access_key: str | None = sigv4.parse_authorization(request.headers["Authorization"]).access_key_id
    except ValueError:
        access_key = None
    user_id = f"{caller.name}:{caller.function_name}" if caller.kind == "session" else caller.name
    return url_events.authorizer_iam(access_key=access_key, account_id=account_id, user_arn=caller.arn,
                                     user_id=user_id)


async def _read(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestTooLarge()
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


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
                return await serve_url(request, url_id, request.raw_path)
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
