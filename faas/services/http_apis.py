"""HTTP APIs (API Gateway v2): APIs and their routes, integrations and stages, checked here, with AWS's
words for what is refused; quick create; and the cached lookup a request to an API starts with."""

from __future__ import annotations

import datetime
import ipaddress
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from faas.errors import BadRequest, Conflict, InvalidParameterValue, NotFound
from faas.model import utcnow
from faas.services.cache import TtlCache
from faas.services.urls import validate_cors
from faas.store.http_apis import Duplicate, HttpApi, HttpApiStore, Part

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
DEFAULT_ROUTE = "$default"
DEFAULT_STAGE = "$default"
PAYLOAD_VERSIONS = ("1.0", "2.0")
DEFAULT_TIMEOUT_MS = 30_000
_ID_ALPHABET = string.ascii_lowercase + string.digits
# A path segment is text without '/', '{' or '}', or one parameter `{name}`; a greedy `{name+}` may only end it.
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*,;=:@%-]+$")
_PARAMETER = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")
_STAGE_NAME = re.compile(r"^(\$default|[A-Za-z0-9_-]{1,128})$")
_STAGE_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_STAGE_VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9-._~:/?#&=,]{1,512}$")
# A function, as an integration's URI: its ARN, or API Gateway's invocation URI around it.
_FUNCTION_ARN = re.compile(r"^arn:aws:lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]{1,64})$")
_INVOCATION_URI = re.compile(r"^arn:aws:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(.+)/invocations$")
_CORS_FIELDS = {"allowCredentials": "AllowCredentials", "allowHeaders": "AllowHeaders",
                "allowMethods": "AllowMethods", "allowOrigins": "AllowOrigins", "exposeHeaders": "ExposeHeaders",
                "maxAge": "MaxAge"}
_ROUTE_KEY_FORMAT = ('The provided route key is not formatted properly for HTTP protocol. Format should be '
                     '"<HTTP METHOD> /<RESOURCE PATH>" or "$default"')

AUTHORIZATION_TYPES = ("NONE", "AWS_IAM", "JWT")
# A loopback issuer may use plain HTTP (local development and tests); any other must use HTTPS.
_LOOPBACK_HOSTS = ("localhost", "::1")

# Fields of the model this platform does not honour: refused by name, never silently ignored.
_UNSUPPORTED = {
    "api": ("credentialsArn", "apiKeySelectionExpression", "disableSchemaValidation"),
    "route": ("requestParameters", "requestModels", "modelSelectionExpression", "routeResponseSelectionExpression"),
    "integration": ("requestParameters", "responseParameters", "requestTemplates", "templateSelectionExpression",
                    "credentialsArn", "integrationSubtype", "connectionId", "tlsConfig", "passthroughBehavior",
                    "contentHandlingStrategy"),
    "stage": ("accessLogSettings", "routeSettings", "defaultRouteSettings", "clientCertificateId", "deploymentId"),
}

AddPermission = Callable[[str, dict[str, Any]], Awaitable[object]]


def new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def parse_route_key(key: Any) -> tuple[str, tuple[str, ...]] | None:
    """(method, path segments) of a route key such as `GET /users/{id}`; None for `$default`."""
    if key == DEFAULT_ROUTE:
        return None
    if not isinstance(key, str) or " " not in key:
        raise BadRequest(_ROUTE_KEY_FORMAT)
    method, _, path = key.partition(" ")
    if method not in METHODS:
        raise BadRequest(f"Unknown HTTP method {method[:32]!r} in route key {key[:300]!r}: use one of "
                         f"{', '.join(METHODS)}. {_ROUTE_KEY_FORMAT}")
    if not path.startswith("/") or len(key) > 512:
        raise BadRequest(_ROUTE_KEY_FORMAT)
    segments = tuple(path[1:].split("/")) if path != "/" else ()
    names: set[str] = set()
    for index, segment in enumerate(segments):
        parameter = _PARAMETER.match(segment)
        if parameter is not None:
            if parameter.group(2) and index != len(segments) - 1:
                raise BadRequest(f"Invalid route key {key!r}: a greedy path variable {segment} must be the last "
                                 "segment of the path")
            if parameter.group(1) in names:
                raise BadRequest(f"Invalid route key {key!r}: the path variable {parameter.group(1)} is repeated")
            names.add(parameter.group(1))
        elif not _LITERAL.match(segment):
            raise BadRequest(f"Invalid route key {key!r}: the path segment {segment!r} is not valid")
    return method, segments


def function_of(uri: Any) -> tuple[str, str, str] | None:
    """(region, account, function name) an integration URI names, or None when it names no function."""
    if not isinstance(uri, str):
        return None
    wrapped = _INVOCATION_URI.match(uri)
    found = _FUNCTION_ARN.match(wrapped.group(1) if wrapped else uri)
    return found.groups() if found else None  # type: ignore[return-value]


def fetchable(url: str) -> bool:
    """Whether the platform may fetch an issuer's documents from `url`: HTTPS, or plain HTTP on a loopback
    address (local development and tests)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return True
    return parts.scheme == "http" and (host in _LOOPBACK_HOSTS or _is_loopback_ip(host))


def check_issuer(issuer: Any) -> str:
    """An authorizer's issuer: an HTTPS URL, or plain HTTP on a loopback address."""
    if not isinstance(issuer, str) or len(issuer) > 2048:
        raise BadRequest("Invalid jwtConfiguration.issuer: a URL such as https://auth.example.com/")
    if not fetchable(issuer):
        raise BadRequest(f"Invalid jwtConfiguration.issuer {issuer[:256]!r}: the issuer must use HTTPS (plain "
                         "HTTP only on a loopback address, for local development)")
    return issuer


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cors_for_serving(config: dict | None) -> dict | None:
    """An API's corsConfiguration in the shape faas.sources.cors reads (Lambda's field names)."""
    if not config:
        return None
    return {_CORS_FIELDS[name]: value for name, value in config.items() if name in _CORS_FIELDS}


class HttpApiService:
    def __init__(self, store: HttpApiStore, *, region: str, account_id: str, domain: str, scheme: str,
                 function_exists: Callable[[str], Awaitable[bool]], add_permission: AddPermission) -> None:
        self._store = store
        self.region = region
        self.account_id = account_id
        self.domain = domain
        self.scheme = scheme
        self._function_exists = function_exists
        self._add_permission = add_permission
        self._cache: TtlCache[HttpApi] = TtlCache()

    # -- ARNs and endpoints ----------------------------------------------------------------------------

    def arn(self, path: str) -> str:
        """The management ARN API Gateway's IAM actions (apigateway:GET, POST, PATCH, DELETE) act on."""
        return f"arn:aws:apigateway:{self.region}::{path}"

    def execute_arn(self, api_id: str, rest: str = "*/*") -> str:
        """`arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>`: what a request to the
        API is, for execute-api:Invoke and as the SourceArn a function policy names."""
        return f"arn:aws:execute-api:{self.region}:{self.account_id}:{api_id}/{rest}"

    def endpoint(self, api_id: str, port: int | None) -> str:
        default_port = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{api_id}.execute-api.{self.domain}" + (
            f":{port}" if port and port != default_port else "")

    # -- the lookup requests start with ------------------------------------------------------------------

    async def for_request(self, api_id: str) -> HttpApi | None:
        found = self._cache.get(api_id)
        if found is None:  # unknown ids are not cached: anyone can make up as many as they like
            found = await self._store.get(api_id)
            if found is not None:
                self._cache.put(api_id, found)
        return found

    # -- APIs ----------------------------------------------------------------------------------------------

    async def create_api(self, params: dict[str, Any], port: int | None) -> dict:
        protocol = params.get("protocolType")
        if protocol == "WEBSOCKET":
            raise BadRequest("WebSocket APIs are not supported by this platform: create an HTTP API "
                             "(protocolType HTTP)")
        if protocol != "HTTP":
            raise BadRequest(f"Invalid protocolType {str(protocol)[:32]!r}: use HTTP")
        _refuse_unsupported(params, "api")
        expression = params.get("routeSelectionExpression", "$request.method $request.path")
        if expression != "$request.method $request.path":
            raise BadRequest("The routeSelectionExpression of an HTTP API must be ${request.method} ${request.path}")
        api_id = new_id(10)
        now = utcnow()
        document = {"apiId": api_id, "apiKeySelectionExpression": "$request.header.x-api-key",
                    "createdDate": _date(now), "disableExecuteApiEndpoint": False, "protocolType": "HTTP",
                    "routeSelectionExpression": "$request.method $request.path", "tags": {}}
        document.update(self._api_fields(params, creating=True))
        parts: list[Part] = []
        function: str | None = None
        if "target" in params:
            function, parts = await self._quick_create(params, now)
        elif "routeKey" in params:
            raise BadRequest("routeKey is part of quick create: give a target too")
        await self._store.create(api_id, document, parts, now)
        if function is not None:
            # As AWS's quick create does: the function's policy lets API Gateway invoke it for this API.
            try:
                await self._add_permission(function, {
                    "StatementId": f"apigateway-{api_id}", "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com", "SourceArn": self.execute_arn(api_id)})
            except Exception:
                await self._store.delete(api_id)  # nothing is left half made
                raise
        return self.api_shape(document, port)

    async def _quick_create(self, params: dict[str, Any], now: datetime.datetime) -> tuple[str, list[Part]]:
        target = params["target"]
        found = function_of(target)
        if found is None:
            raise BadRequest(f"Invalid target {str(target)[:256]!r}: quick create on this platform takes a "
                             "function ARN (arn:aws:lambda:<region>:<account>:function:<name>); HTTP "
                             "integrations are not supported")
        function = self._check_function_arn(found, target)
        if not await self._function_exists(function):
            raise BadRequest(f"Invalid target {target}: the function {function} does not exist")
        route_key = params.get("routeKey", DEFAULT_ROUTE)
        parse_route_key(route_key)
        integration_id, route_id = new_id(7), new_id(7)
        integration = {"apiGatewayManaged": True, "connectionType": "INTERNET", "integrationId": integration_id,
                       "integrationMethod": "POST", "integrationType": "AWS_PROXY", "integrationUri": target,
                       "payloadFormatVersion": "2.0", "timeoutInMillis": DEFAULT_TIMEOUT_MS}
        route = {"apiGatewayManaged": True, "apiKeyRequired": False, "authorizationType": "NONE",
                 "routeId": route_id, "routeKey": route_key, "target": f"integrations/{integration_id}"}
        stage = {"apiGatewayManaged": True, "autoDeploy": True, "createdDate": _date(now),
                 "defaultRouteSettings": {"detailedMetricsEnabled": False}, "lastUpdatedDate": _date(now),
                 "routeSettings": {}, "stageName": DEFAULT_STAGE, "stageVariables": {}, "tags": {}}
        return function, [Part("integration", integration_id, integration), Part("route", route_id, route, route_key),
                          Part("stage", DEFAULT_STAGE, stage)]

    def _api_fields(self, params: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """The settable fields of an Api, checked."""
        out: dict[str, Any] = {}
        if creating or "name" in params:
            out["name"] = _text(params.get("name"), "name", 1, 128)
        for field, most in (("description", 1024), ("version", 64)):
            if params.get(field) is not None:
                out[field] = _text(params[field], field, 0 if field == "description" else 1, most)
        if params.get("disableExecuteApiEndpoint") is not None:
            out["disableExecuteApiEndpoint"] = _boolean(params["disableExecuteApiEndpoint"],
                                                        "disableExecuteApiEndpoint")
        if "corsConfiguration" in params:
            out["corsConfiguration"] = _cors(params["corsConfiguration"])
        if creating and params.get("tags") is not None:
            tags = params["tags"]
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                raise BadRequest("Invalid tags: a map of strings to strings")
            out["tags"] = tags
        return out

    async def get_api(self, api_id: str) -> HttpApi:
        found = await self._store.get(api_id)
        if found is None:
            raise NotFound(f"Invalid API identifier specified {self.account_id}:{api_id}", "Api")
        return found

    async def list_apis(self, port: int | None) -> list[dict]:
        return [self.api_shape(document, port) for document in await self._store.list()]

    async def update_api(self, api_id: str, params: dict[str, Any], port: int | None) -> dict:
        current = await self.get_api(api_id)
        if "target" in params or "routeKey" in params or "credentialsArn" in params:
            raise BadRequest("target, routeKey and credentialsArn are part of quick create (CreateApi): change "
                             "the API's routes and integrations instead")
        if params.get("protocolType") not in (None, "HTTP"):
            raise BadRequest("The protocolType of an API cannot be changed")
        document = {**current.document, **self._api_fields(params, creating=False)}
        await self._store.replace(api_id, document)
        self._cache.pop(api_id)
        return self.api_shape(document, port)

    async def delete_api(self, api_id: str) -> None:
        if not await self._store.delete(api_id):
            raise NotFound(f"Invalid API identifier specified {self.account_id}:{api_id}", "Api")
        self._cache.pop(api_id)

    def api_shape(self, document: dict, port: int | None) -> dict:
        return {**document, "apiEndpoint": self.endpoint(document["apiId"], port)}

    # -- routes --------------------------------------------------------------------------------------------

    async def create_route(self, api_id: str, params: dict[str, Any]) -> dict:
        api = await self.get_api(api_id)
        route = self._route({"apiKeyRequired": False, "authorizationType": "NONE", "routeId": new_id(7)},
                            params, api, creating=True)
        await self._add(api_id, Part("route", route["routeId"], route, route["routeKey"]))
        return route

    async def update_route(self, api_id: str, route_id: str, params: dict[str, Any]) -> dict:
        api = await self.get_api(api_id)
        current = self._part(api, "route", route_id)
        route = self._route(dict(current.document), params, api, creating=False)
        await self._replace(api_id, Part("route", route_id, route, route["routeKey"]))
        return route

    def _route(self, route: dict, params: dict[str, Any], api: HttpApi, *, creating: bool) -> dict:
        _refuse_unsupported(params, "route")
        if params.get("apiKeyRequired"):
            raise BadRequest("apiKeyRequired is supported only for WebSocket APIs")
        if creating or "routeKey" in params:
            parse_route_key(params.get("routeKey"))
            route["routeKey"] = params["routeKey"]
        if "target" in params:
            target = params["target"]
            if target is None:
                route.pop("target", None)
            else:
                integration_id = target[len("integrations/"):] if isinstance(target, str) and \
                    target.startswith("integrations/") else None
                if integration_id is None or not any(p.part_id == integration_id for p in api.of("integration")):
                    raise BadRequest(f"Invalid target {str(target)[:140]!r}: name an integration of this API as "
                                     "integrations/<integration-id>")
                route["target"] = target
        if "authorizationType" in params:
            kind = params["authorizationType"]
            if kind not in AUTHORIZATION_TYPES:
                raise BadRequest(f"Invalid authorizationType {str(kind)[:32]!r}: use NONE, AWS_IAM or JWT (Lambda "
                                 "authorizers, CUSTOM, are not supported)")
            route["authorizationType"] = kind
        if "authorizerId" in params:
            route["authorizerId"] = params["authorizerId"]
        if "authorizationScopes" in params:
            scopes = params["authorizationScopes"]
            if scopes is not None and (not isinstance(scopes, list) or
                                       not all(isinstance(s, str) and 0 < len(s) <= 256 for s in scopes)):
                raise BadRequest("Invalid authorizationScopes: a list of scope names")
            route["authorizationScopes"] = scopes or []
        if route["authorizationType"] == "JWT":
            authorizer_id = route.get("authorizerId")
            if not any(p.part_id == authorizer_id for p in api.of("authorizer")):
                raise BadRequest(f"Invalid authorizerId {str(authorizer_id)[:32]!r}: a JWT route names an "
                                 "authorizer of this API")
        else:
            route.pop("authorizerId", None)
            if route.get("authorizationScopes"):
                raise BadRequest("authorizationScopes are only supported for JWT routes")
            route.pop("authorizationScopes", None)
        if params.get("operationName") is not None:
            route["operationName"] = _text(params["operationName"], "operationName", 1, 64)
        return route

    async def get_route(self, api_id: str, route_id: str) -> dict:
        return self._part(await self.get_api(api_id), "route", route_id).document

    async def list_routes(self, api_id: str) -> list[dict]:
        return [part.document for part in (await self.get_api(api_id)).of("route")]

    async def delete_route(self, api_id: str, route_id: str) -> None:
        await self._delete(await self.get_api(api_id), "route", route_id)

    # -- integrations --------------------------------------------------------------------------------------

    async def create_integration(self, api_id: str, params: dict[str, Any]) -> dict:
        await self.get_api(api_id)
        integration = self._integration({"connectionType": "INTERNET", "integrationId": new_id(7),
                                         "integrationMethod": "POST", "timeoutInMillis": DEFAULT_TIMEOUT_MS},
                                        params, creating=True)
        await self._add(api_id, Part("integration", integration["integrationId"], integration))
        return integration

    async def update_integration(self, api_id: str, integration_id: str, params: dict[str, Any]) -> dict:
        current = self._part(await self.get_api(api_id), "integration", integration_id)
        integration = self._integration(dict(current.document), params, creating=False)
        await self._replace(api_id, Part("integration", integration_id, integration))
        return integration

    def _integration(self, integration: dict, params: dict[str, Any], *, creating: bool) -> dict:
        _refuse_unsupported(params, "integration")
        if params.get("connectionType") not in (None, "INTERNET"):
            raise BadRequest("Invalid connectionType: a Lambda proxy integration connects over INTERNET")
        if creating or "integrationType" in params:
            if params.get("integrationType") != "AWS_PROXY":
                raise BadRequest(f"Invalid integrationType {str(params.get('integrationType'))[:32]!r}: this "
                                 "platform integrates functions only, with AWS_PROXY")
            integration["integrationType"] = "AWS_PROXY"
        if creating or "integrationUri" in params:
            uri = params.get("integrationUri")
            found = function_of(uri)
            if found is None:
                raise BadRequest(f"Invalid integrationUri {str(uri)[:256]!r}: give a function ARN "
                                 "(arn:aws:lambda:<region>:<account>:function:<name>)")
            self._check_function_arn(found, uri)
            integration["integrationUri"] = uri
        if creating or "payloadFormatVersion" in params:
            version = params.get("payloadFormatVersion")
            if version not in PAYLOAD_VERSIONS:
                raise BadRequest(f"Invalid payloadFormatVersion {str(version)[:16]!r}: an HTTP API's Lambda proxy "
                                 "integration takes 1.0 or 2.0")
            integration["payloadFormatVersion"] = version
        if params.get("timeoutInMillis") is not None:
            timeout = params["timeoutInMillis"]
            if not isinstance(timeout, int) or isinstance(timeout, bool) or not 50 <= timeout <= 30_000:
                raise BadRequest("timeoutInMillis must be between 50 and 30000 milliseconds for HTTP APIs")
            integration["timeoutInMillis"] = timeout
        if params.get("integrationMethod") not in (None, "POST"):
            raise BadRequest("The integrationMethod of a Lambda proxy integration is POST")
        if params.get("description") is not None:
            integration["description"] = _text(params["description"], "description", 0, 1024)
        return integration

    def _check_function_arn(self, found: tuple[str, str, str], uri: str) -> str:
        region, account, name = found
        if region != self.region or account != self.account_id:
            raise BadRequest(f"Invalid function ARN {uri}: functions here are in {self.region}, account "
                             f"{self.account_id}")
        return name

    async def get_integration(self, api_id: str, integration_id: str) -> dict:
        return self._part(await self.get_api(api_id), "integration", integration_id).document

    async def list_integrations(self, api_id: str) -> list[dict]:
        return [part.document for part in (await self.get_api(api_id)).of("integration")]

    async def delete_integration(self, api_id: str, integration_id: str) -> None:
        api = await self.get_api(api_id)
        self._part(api, "integration", integration_id)
        users = [p.document["routeKey"] for p in api.of("route")
                 if p.document.get("target") == f"integrations/{integration_id}"]
        if users:
            raise Conflict(f"Cannot delete integration {integration_id}: routes use it ({', '.join(users)}); "
                           "change or delete them first")
        await self._delete(api, "integration", integration_id)

    # -- authorizers ---------------------------------------------------------------------------------------

    async def create_authorizer(self, api_id: str, params: dict[str, Any]) -> dict:
        await self.get_api(api_id)
        if params.get("authorizerType") != "JWT":
            raise BadRequest(f"Invalid authorizerType {str(params.get('authorizerType'))[:32]!r}: JWT (Lambda "
                             "authorizers, REQUEST, are not supported)")
        sources = params.get("identitySource")
        if (not isinstance(sources, list) or len(sources) != 1 or not isinstance(sources[0], str)
                or not sources[0].startswith("$request.header.") or len(sources[0]) <= len("$request.header.")):
            raise BadRequest("Invalid identitySource: one header, such as [\"$request.header.Authorization\"]")
        config = params.get("jwtConfiguration")
        if not isinstance(config, dict):
            raise BadRequest("jwtConfiguration is required for a JWT authorizer: {issuer, audience}")
        audience = config.get("audience")
        if not isinstance(audience, list) or not audience or not all(isinstance(a, str) and a for a in audience):
            raise BadRequest("Invalid jwtConfiguration.audience: a non-empty list of audiences")
        authorizer = {"authorizerId": new_id(6), "authorizerType": "JWT", "identitySource": sources,
                      "jwtConfiguration": {"audience": audience, "issuer": check_issuer(config.get("issuer"))},
                      "name": _text(params.get("name"), "name", 1, 128)}
        await self._store.add_part(api_id, Part("authorizer", authorizer["authorizerId"], authorizer), utcnow())
        self._cache.pop(api_id)
        return authorizer

    async def get_authorizer(self, api_id: str, authorizer_id: str) -> dict:
        return self._part(await self.get_api(api_id), "authorizer", authorizer_id).document

    async def list_authorizers(self, api_id: str) -> list[dict]:
        return [part.document for part in (await self.get_api(api_id)).of("authorizer")]

    async def delete_authorizer(self, api_id: str, authorizer_id: str) -> None:
        api = await self.get_api(api_id)
        self._part(api, "authorizer", authorizer_id)
        users = [p.document["routeKey"] for p in api.of("route") if p.document.get("authorizerId") == authorizer_id]
        if users:
            raise Conflict(f"Cannot delete authorizer {authorizer_id}: routes use it ({', '.join(users)}); change "
                           "or delete them first")
        await self._delete(api, "authorizer", authorizer_id)

    # -- stages --------------------------------------------------------------------------------------------

    async def create_stage(self, api_id: str, params: dict[str, Any]) -> dict:
        await self.get_api(api_id)
        _refuse_unsupported(params, "stage")
        name = params.get("stageName")
        if not isinstance(name, str) or not _STAGE_NAME.match(name):
            raise BadRequest(f"Invalid stageName {str(name)[:140]!r}: $default, or 1-128 letters, digits, - and _")
        now = _date(utcnow())
        stage: dict[str, Any] = {"autoDeploy": _boolean(params.get("autoDeploy", False), "autoDeploy"),
                                 "createdDate": now, "defaultRouteSettings": {"detailedMetricsEnabled": False},
                                 "lastUpdatedDate": now, "routeSettings": {}, "stageName": name,
                                 "stageVariables": _stage_variables(params.get("stageVariables") or {}), "tags": {}}
        if params.get("description") is not None:
            stage["description"] = _text(params["description"], "description", 0, 1024)
        try:
            await self._store.add_part(api_id, Part("stage", name, stage), utcnow())
        except Duplicate as exc:
            raise Conflict(f"Stage {name} already exists") from exc
        self._cache.pop(api_id)
        return stage

    async def get_stage(self, api_id: str, name: str) -> dict:
        return self._part(await self.get_api(api_id), "stage", name).document

    async def list_stages(self, api_id: str) -> list[dict]:
        return [part.document for part in (await self.get_api(api_id)).of("stage")]

    async def delete_stage(self, api_id: str, name: str) -> None:
        await self._delete(await self.get_api(api_id), "stage", name)

    # -- parts, in common ----------------------------------------------------------------------------------

    def _part(self, api: HttpApi, kind: str, part_id: str) -> Part:
        found = next((p for p in api.of(kind) if p.part_id == part_id), None)
        if found is None:
            names = {"route": "Route", "integration": "Integration", "stage": "Stage", "authorizer": "Authorizer"}
            raise NotFound(f"Invalid {names[kind]} identifier specified {part_id}", names[kind])
        return found

    async def _add(self, api_id: str, part: Part) -> None:
        try:
            await self._store.add_part(api_id, part, utcnow())
        except Duplicate as exc:
            raise Conflict(f"Route with key {part.unique_key} already exists for this API") from exc
        self._cache.pop(api_id)

    async def _replace(self, api_id: str, part: Part) -> None:
        try:
            await self._store.replace_part(api_id, part)
        except Duplicate as exc:
            raise Conflict(f"Route with key {part.unique_key} already exists for this API") from exc
        self._cache.pop(api_id)

    async def _delete(self, api: HttpApi, kind: str, part_id: str) -> None:
        self._part(api, kind, part_id)
        await self._store.delete_part(api.api_id, kind, part_id)
        self._cache.pop(api.api_id)


def _date(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _refuse_unsupported(params: dict[str, Any], what: str) -> None:
    given = sorted(field for field in _UNSUPPORTED[what] if params.get(field))
    if given:
        raise BadRequest(f"Not supported on this platform ({what}): {', '.join(given)}")


def _text(value: Any, field: str, least: int, most: int) -> str:
    if not isinstance(value, str) or not least <= len(value) <= most:
        raise BadRequest(f"Invalid {field}: a string of {least}-{most} characters")
    return value


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid {field}: true or false")
    return value


def _cors(value: Any) -> dict[str, Any]:
    """A checked corsConfiguration (the checks of function URLs' Cors, in API Gateway's field names)."""
    if not isinstance(value, dict):
        raise BadRequest("Invalid corsConfiguration: an object")
    unknown = sorted(set(value) - set(_CORS_FIELDS))
    if unknown:
        raise BadRequest(f"Invalid corsConfiguration: unknown fields {', '.join(unknown)}")
    try:
        checked = validate_cors({_CORS_FIELDS[name]: item for name, item in value.items() if item is not None})
    except InvalidParameterValue as exc:
        message = exc.message.replace("Cors.", "corsConfiguration.")
        for wire, ours in _CORS_FIELDS.items():
            message = message.replace(ours, wire)
        raise BadRequest(message) from exc
    back = {ours: wire for wire, ours in _CORS_FIELDS.items()}
    return {back[name]: item for name, item in checked.items()}


def _stage_variables(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest("Invalid stageVariables: a map of names to values")
    for name, text in value.items():
        if not _STAGE_VARIABLE_NAME.match(name) or not isinstance(text, str) or not _STAGE_VARIABLE_VALUE.match(text):
            raise BadRequest(f"Invalid stage variable {str(name)[:64]!r}: names are letters, digits and _, values "
                             "match [A-Za-z0-9-._~:/?#&=,]+")
    return dict(value)
