"""The HTTP API source: a request to an API (API Gateway v2) becomes one invocation of the function its route
integrates. The stage and route are picked as API Gateway picks them, CORS preflights are answered from the
API's configuration, the function's policy must let API Gateway invoke it for this API (AWS:SourceArn), the
request becomes a payload 1.0 or 2.0 event, and the result becomes the HTTP response. The API routes
host-style and path-style requests here (faas.api.execute_api)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.bodies import read_limited
from faas.dispatch.invoker import Invoker, Result
from faas.errors import AccessDenied, ApiError, InvalidSignature, RequestTooLarge, ResourceNotFound, \
    TooManyRequests, UnrecognizedClient
from faas.model import utcnow
from faas.security import policy
from faas.services.functions import FunctionService
from faas.services.http_apis import DEFAULT_ROUTE, DEFAULT_STAGE, HttpApiService, cors_for_serving, function_of
from faas.sources import api_events, cors, url_events
from faas.sources.api_routes import Match, RouteTable
from faas.services.identities import Caller
from faas.sources.jwt_authorizers import JwtVerifier, Refused, claims_for_event, scopes_of, token_from
from faas.sources.urls import Guard, iam_identity, local_port
from faas.store.http_apis import HttpApi

MAX_BODY = 6 * 1024 * 1024  # what a function can take: Lambda's synchronous payload limit
SERVICE_PRINCIPAL = "service:apigateway.amazonaws.com"

Statements = Callable[[str], Awaitable[tuple[dict, ...]]]


def answer(status_and_body: tuple[int, dict], headers: list[url_events.Header] = ()) -> web.Response:
    """One of API Gateway's own answers: `{"message": ...}` JSON."""
    status, body = status_and_body
    response = web.json_response(body, status=status)
    for name, value in headers:
        response.headers.add(name, value)
    return response


class Compiled:
    """One read of an API in the shapes a request needs: its route table, and its parts by id."""

    def __init__(self, api: HttpApi) -> None:
        self.api = api
        self.routes = RouteTable((part.document["routeKey"], part.document) for part in api.of("route"))
        self.stages = {part.part_id: part.document for part in api.of("stage")}
        self.integrations = {part.part_id: part.document for part in api.of("integration")}
        self.authorizers = {part.part_id: part.document for part in api.of("authorizer")}
        self.cors = cors_for_serving(api.document.get("corsConfiguration"))


@dataclasses.dataclass(frozen=True)
class Authorised:
    """What a route's authorisation found: the body (an AWS_IAM request's is read as it is authenticated) and
    the event's requestContext.authorizer parts."""

    body: bytes | None = None
    iam: dict | None = None
    jwt_claims: dict[str, str] | None = None
    jwt_scopes: list[str] | None = None


class Rejected(Exception):
    """API Gateway answers the request itself (a refusal, or a failure of the integration): `answer`."""

    def __init__(self, answer: tuple[int, dict]) -> None:
        super().__init__(answer[1]["message"])
        self.answer = answer


class HttpApiSource:
    def __init__(self, apis: HttpApiService, functions: FunctionService, invoker: Invoker, statements: Statements,
                 guard: Guard, jwt_verifier: JwtVerifier, *, function_arn: Callable[[str], str], account_id: str,
                 trusted_proxies: tuple[str, ...] = ()) -> None:
        self._apis = apis
        self._functions = functions
        self._invoker = invoker
        self._statements = statements
        self._guard = guard
        self._jwt = jwt_verifier
        self._function_arn = function_arn
        self._account_id = account_id
        self._trusted = url_events.trusted_networks(trusted_proxies)
        # Each API compiled for requests, for the API as last read (the service re-reads it after a change).
        self._compiled: dict[str, Compiled] = {}
        self._decisions: dict[tuple[str, str], tuple[tuple[dict, ...], bool]] = {}

    def _compile(self, api: HttpApi) -> Compiled:
        cached = self._compiled.get(api.api_id)
        if cached is None or cached.api is not api:
            if len(self._compiled) > 10_000:
                self._compiled.clear()
            cached = self._compiled[api.api_id] = Compiled(api)
        return cached

    async def serve(self, request: web.Request, api_id: str, raw_path: str, request_id: str) -> web.StreamResponse:
        """Answer one request to the API `api_id`; `raw_path` is the path after the API's own (the stage's
        name first, unless the `$default` stage serves it), as received."""
        api = await self._apis.for_request(api_id)
        if api is None:
            return answer(api_events.NOT_FOUND)
        if api.document.get("disableExecuteApiEndpoint"):  # as API Gateway answers its disabled endpoint
            return answer(api_events.FORBIDDEN)
        compiled = self._compile(api)
        stage, route_path = _stage(compiled.stages, raw_path.split("?", 1)[0])
        if stage is None:
            return answer(api_events.NOT_FOUND)
        headers = {k: v for k, v in request.headers.items()}
        cors_config = compiled.cors
        preflight = cors.preflight(cors_config, request.method, headers)
        if preflight is not None:
            return web.Response(status=204, headers=preflight[1])
        extra = cors.cors_headers(cors_config, headers) + [("apigw-requestid", request_id)]
        method, stage_name = request.method.upper(), stage["stageName"]
        found = compiled.routes.match(method, route_path)
        if found is None or "target" not in found.route.value:
            return answer(api_events.NOT_FOUND, extra)
        try:
            authorised = await self._authorise(request, api, found, f"{stage_name}/{method}/{route_path.lstrip('/')}")
            return await self._run(request, api, stage, found, authorised, raw_path, request_id, extra)
        except Rejected as rejected:
            return answer(rejected.answer, extra)

    async def _run(self, request: web.Request, api: HttpApi, stage: dict, found: Match, authorised: Authorised,
                   raw_path: str, request_id: str, extra: list[url_events.Header]) -> web.StreamResponse:
        """The authorised request's invocation of its route's integration, and the response."""
        integration_id = found.route.value["target"].partition("/")[2]
        integration = self._compile(api).integrations.get(integration_id)
        target = function_of(integration["integrationUri"]) if integration else None
        if integration is None or target is None:
            raise Rejected(api_events.INTERNAL_ERROR)
        try:
            fn = await self._functions.get(target[2])
        except ResourceNotFound as exc:
            raise Rejected(api_events.INTERNAL_ERROR) from exc
        if not await self._may_invoke(fn.name, api.api_id, stage["stageName"], request.method.upper(), found):
            raise Rejected(api_events.INTERNAL_ERROR)  # as API Gateway answers a missing permission
        body = authorised.body if authorised.body is not None else await read_limited(request, MAX_BODY)
        if body is None:
            raise Rejected(api_events.TOO_LARGE)
        version = integration["payloadFormatVersion"]
        jwt_context = None
        if authorised.jwt_claims is not None:
            jwt_context = {"claims": authorised.jwt_claims, "scopes": authorised.jwt_scopes or None}
            if version == "2.0":
                jwt_context = {"jwt": jwt_context}
        now = utcnow()
        headers_in = list(request.headers.items())
        origin = url_events.origin(
            headers_in, peer=request.remote or "", scheme=request.scheme, port=local_port(request),
            trusted=self._trusted, new_trace_id=url_events.trace_root(int(now.timestamp()), os.urandom(12)))
        http_request = url_events.HttpRequest(
            method=request.method, raw_path=raw_path.split("?", 1)[0], raw_query=request.rel_url.raw_query_string,
            headers=headers_in, body=body, origin=origin, url_id=api.api_id, domain_name=request.host,
            account_id=self._account_id, request_id=request_id, now=now, route_key=found.route.key,
            stage=stage["stageName"], path_parameters=found.path_parameters,
            stage_variables=stage.get("stageVariables") or None, authorizer_iam=authorised.iam,
            authorizer=jwt_context)
        event = (url_events.build_event(http_request) if version == "2.0"
                 else api_events.build_event_v1(http_request, _resource(found)))
        try:
            result = await self._invoke(fn, json.dumps(event).encode(), request_id, origin.trace_id,
                                        integration["timeoutInMillis"] / 1000)
        except TooManyRequests as exc:
            raise Rejected(api_events.TOO_MANY_REQUESTS) from exc
        except asyncio.TimeoutError as exc:
            raise Rejected(api_events.SERVICE_UNAVAILABLE) from exc
        except ApiError as exc:
            raise Rejected(api_events.INTERNAL_ERROR) from exc
        if version == "2.0":
            status, response_headers, response_body = url_events.response_from_result(
                result.body, result.function_error, failed=api_events.internal_error)
        else:
            status, response_headers, response_body = api_events.response_v1(result.body, result.function_error)
        response = web.Response(status=status, body=response_body)
        for name, value in response_headers + extra:
            response.headers.add(name, value)
        return response

    async def _authorise(self, request: web.Request, api: HttpApi, found: Match, invoke_path: str) -> Authorised:
        """The route's authorisation: NONE; AWS_IAM (a signed caller allowed execute-api:Invoke on
        `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>`, through the guard, refusals
        audited); or JWT (a token from the authorizer's issuer and audience, with one of the route's scopes)."""
        route = found.route.value
        kind = route.get("authorizationType", "NONE")
        if kind == "AWS_IAM":
            resource = self._apis.execute_arn(api.api_id, invoke_path)
            caller: Caller | None = None
            try:
                caller, body = await self._guard.authenticated_body(request, MAX_BODY)
                await self._guard.authorize(caller, "execute-api:Invoke", resource, None)
            except (UnrecognizedClient, InvalidSignature, AccessDenied) as refusal:
                self._guard.record(request, caller, "execute-api:Invoke", resource, refusal.status, "denied")
                raise Rejected(api_events.FORBIDDEN) from refusal
            except RequestTooLarge as refusal:
                raise Rejected(api_events.TOO_LARGE) from refusal
            return Authorised(body=body, iam=iam_identity(request, caller, self._account_id))
        if kind == "JWT":
            authorizer = self._compile(api).authorizers.get(route.get("authorizerId"))
            if authorizer is None:
                raise Rejected(api_events.INTERNAL_ERROR)
            header = authorizer["identitySource"][0][len("$request.header."):]
            config = authorizer["jwtConfiguration"]
            try:
                claims = await self._jwt.verify(token_from(request.headers.get(header)), config["issuer"],
                                                config["audience"])
            except Refused as refusal:
                raise Rejected(api_events.UNAUTHORIZED) from refusal
            scopes = scopes_of(claims)
            required = route.get("authorizationScopes") or []
            if required and not set(required) & set(scopes):
                raise Rejected(api_events.FORBIDDEN)
            return Authorised(jwt_claims=claims_for_event(claims), jwt_scopes=scopes)
        return Authorised()

    async def _may_invoke(self, function_name: str, api_id: str, stage: str, method: str, found: Match) -> bool:
        """Whether the function's policy lets API Gateway invoke it for this route (its statements are
        cached): the SourceArn is `<api-id>/<stage>/<METHOD>/<route path>`, or `.../$default`."""
        route = found.route
        rest = f"{stage}/{DEFAULT_ROUTE}" if not route.method else f"{stage}/{method}{route.key.partition(' ')[2]}"
        source_arn = self._apis.execute_arn(api_id, rest)
        statements = await self._statements(function_name)
        # The decision is kept for as long as the statements it was made on are (the same cached tuple).
        key = (function_name, source_arn)
        known = self._decisions.get(key)
        if known is not None and known[0] is statements:
            return known[1]
        decision = policy.evaluate_resource_policy(
            statements, principal=SERVICE_PRINCIPAL, action="lambda:InvokeFunction",
            resource=self._function_arn(function_name),
            context={"aws:SourceArn": source_arn, "aws:SourceAccount": self._account_id}) == policy.ALLOW
        if len(self._decisions) > 10_000:
            self._decisions.clear()
        self._decisions[key] = (statements, decision)
        return decision

    async def _invoke(self, fn, payload: bytes, request_id: str, trace_id: str,  # type: ignore[no-untyped-def]
                      timeout_s: float) -> Result:
        """The invocation, waited for no longer than the integration's timeout: past it the caller gets
        API Gateway's 503 while the invocation runs to its end (and is recorded) as on AWS."""
        task = asyncio.ensure_future(self._invoker.invoke(fn, payload, request_id=request_id, trace_id=trace_id))
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except asyncio.TimeoutError:
            task.add_done_callback(_ignore_outcome)
            raise


def _ignore_outcome(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so an abandoned invocation's error is not reported as never retrieved


def _stage(stages: dict[str, dict], path: str) -> tuple[dict | None, str]:
    """The stage serving `path` and the path the routes see: a named stage's name is the first segment;
    anything else is the `$default` stage's, whole. (None, "") when no stage serves it."""
    first, _, rest = path[1:].partition("/")
    if first in stages and first != DEFAULT_STAGE:
        return stages[first], "/" + rest
    if DEFAULT_STAGE in stages:
        return stages[DEFAULT_STAGE], path or "/"
    return None, ""


def _resource(found: Match) -> str:
    return found.route.key.partition(" ")[2] or found.route.key

