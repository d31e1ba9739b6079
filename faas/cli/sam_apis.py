"""What `faas deploy -f` makes of a SAM template's APIs: its AWS::Serverless::HttpApi resources, the implicit
ServerlessHttpApi of HttpApi events and the implicit ServerlessRestApi of REST Api events (an HTTP API with
payload format 1.0 and the stage Prod: faas has no REST APIs), with their stages, CORS, JWT authorizers and
routes. An API is the stack's (tagged faas:stack), and so is every route, authorizer and stage on it: what the
template no longer names is removed."""

from __future__ import annotations

from typing import Any

from faas.cli.apis import allow_api
from faas.cli.sam_sources import STACK_TAG
from faas.client.http_apis import HttpApiClient
from faas.errors import StackConflict
from faas.sam.template import DEFAULT_STAGE, ROUTE_EVENTS, ApiSpec, EventSpec, FunctionSpec


def api_url(api: dict[str, Any], stage: str) -> str:
    """Where faas serves the API's stage: a named stage's name is the path's first segment."""
    endpoint = str(api.get("apiEndpoint")).rstrip("/")
    return endpoint if stage == DEFAULT_STAGE else f"{endpoint}/{stage}"


def _owned_by(api: dict[str, Any], stack_name: str) -> bool:
    """The stack's API: tagged with the stack, or (as deploys before the tag made it) its implicit HTTP API,
    named after the stack and untagged."""
    tags = api.get("tags") or {}
    return tags.get(STACK_TAG) == stack_name or (STACK_TAG not in tags and api.get("name") == stack_name)


def deploy_api(apis: HttpApiClient, spec: ApiSpec, stack_name: str) -> tuple[dict[str, Any], str]:
    """Create the API, or bring its stage, CORS and authorizers in line; (the API, created/updated/unchanged)."""
    found = next((api for api in apis.list_apis() if api.get("name") == spec.name), None)
    if found is None:
        api = apis.create_api(spec.name, cors=spec.cors, tags={STACK_TAG: stack_name})
        apis.create_stage(api["apiId"], spec.stage)  # auto-deployed: served at once, as SAM's stage is
        for authorizer in spec.authorizers.values():
            apis.create_authorizer(api["apiId"], authorizer)
        return api, "created"
    if not _owned_by(found, stack_name):
        raise StackConflict(f"{spec.logical_id}: the HTTP API {spec.name} ({found['apiId']}) exists and is not "
                            f"part of stack {stack_name}; delete it or rename the stack")
    api_id, changed = found["apiId"], False
    if spec.cors is not None and found.get("corsConfiguration") != spec.cors:
        found = {**found, **apis.update_cors(api_id, spec.cors)}
        changed = True
    stages = [stage["stageName"] for stage in apis.list_stages(api_id)]
    if spec.stage not in stages:
        apis.create_stage(api_id, spec.stage)
        changed = True
    for stage in stages:
        if stage != spec.stage:  # StageName changed: the stack's API is served at one stage, as SAM's
            apis.delete_stage(api_id, stage)
            changed = True
    current = apis.list_authorizers(api_id)
    for authorizer in spec.authorizers.values():
        if not any(_same(existing, authorizer) for existing in current):
            # no update in API Gateway: a changed authorizer is replaced once its routes use the new one
            apis.create_authorizer(api_id, authorizer)
            changed = True
    return found, "updated" if changed else "unchanged"


def _same(authorizer: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(authorizer.get(key) == value for key, value in wanted.items())


def _remove_unused_authorizers(apis: HttpApiClient, api_id: str, spec: ApiSpec) -> None:
    """Authorizers the template no longer has (or has changed), once no route uses them."""
    used = {route.get("authorizerId") for route in apis.list_routes(api_id)}
    for authorizer in apis.list_authorizers(api_id):
        if authorizer["authorizerId"] not in used \
                and not any(_same(authorizer, wanted) for wanted in spec.authorizers.values()):
            apis.delete_authorizer(api_id, authorizer["authorizerId"])


def route_key(event: EventSpec) -> str:
    """SAM's route of an HttpApi or Api event: METHOD /path (method `any` is ANY), or $default without either."""
    path, method = event.properties.get("Path"), event.properties.get("Method")
    if path is None and method is None:
        return "$default"
    return f"{str(method or 'any').upper()} {path or '/'}"


def _authorization(apis: HttpApiClient, api_id: str, spec: ApiSpec, event: EventSpec) -> dict[str, Any]:
    """The route's authorization: its event's Auth.Authorizer, else the API's DefaultAuthorizer."""
    name = (event.properties.get("Auth") or {}).get("Authorizer") or spec.default_authorizer
    if name is None or name == "NONE":
        return {"authorizationType": "NONE"}
    authorizer = next(found for found in apis.list_authorizers(api_id) if _same(found, spec.authorizers[name]))
    scopes = (event.properties.get("Auth") or {}).get("AuthorizationScopes")
    return {"authorizationType": "JWT", "authorizerId": authorizer["authorizerId"],
            **({"authorizationScopes": list(scopes)} if scopes else {})}


def deploy_routes(apis: HttpApiClient, deployed: dict[str, tuple[ApiSpec, str]], function: FunctionSpec,
                  function_arn: str, region: str, account: str) -> list[str]:
    """A route per HttpApi or Api event of the function, on its API (`deployed`: logical id -> (spec, API id)),
    to an integration of the function, which API Gateway may invoke."""
    lines = []
    for event in (event for event in function.events if event.kind in ROUTE_EVENTS):
        spec, api_id = deployed[event.properties["ApiId"]]
        allow_api(apis, function_arn, api_id, region, account)
        version = "1.0" if event.kind == "Api" else str(event.properties.get("PayloadFormatVersion")
                                                         or spec.payload_version)
        integration = next((i for i in apis.list_integrations(api_id) if i.get("integrationUri") == function_arn
                            and i.get("payloadFormatVersion") == version), None)
        if integration is None:
            integration = apis.create_integration(api_id, function_arn, version)
        key = route_key(event)
        settings = {"target": f"integrations/{integration['integrationId']}",
                    **_authorization(apis, api_id, spec, event)}
        current = next((route for route in apis.list_routes(api_id) if route["routeKey"] == key), None)
        described = f"{event.kind} event {event.event_id} ({key})"
        if current is None:
            apis.create_route(api_id, key, integration["integrationId"],
                              authorization_type=settings["authorizationType"],
                              authorizer_id=settings.get("authorizerId"),
                              authorization_scopes=settings.get("authorizationScopes"))
            lines.append(f"created {described}")
        elif any(current.get(name) != value for name, value in settings.items()) \
                or (current.get("authorizationScopes") or []) != settings.get("authorizationScopes", []):
            apis.update_route(api_id, current["routeId"], {"authorizationScopes": [], **settings})
            lines.append(f"updated {described}")
        else:
            lines.append(f"unchanged {described}")
    return lines


def remove_dropped_routes(apis: HttpApiClient, spec: ApiSpec, api_id: str, functions: list[FunctionSpec]) -> list[str]:
    """Delete the routes of the stack's API that no event names any more, then the integrations and
    authorizers no route uses."""
    kept = {route_key(event) for function in functions for event in function.events
            if event.kind in ROUTE_EVENTS and event.properties["ApiId"] == spec.logical_id}
    lines = []
    for route in apis.list_routes(api_id):
        if route["routeKey"] not in kept:
            apis.delete_route(api_id, route["routeId"])
            lines.append(f"removed route {route['routeKey']} of {spec.logical_id} (no longer in the template)")
    targets = {route.get("target") for route in apis.list_routes(api_id)}
    for integration in apis.list_integrations(api_id):
        if f"integrations/{integration['integrationId']}" not in targets:
            apis.delete_integration(api_id, integration["integrationId"])
    _remove_unused_authorizers(apis, api_id, spec)
    return lines


def vanished_apis(apis: HttpApiClient, stack_name: str, specs: list[ApiSpec]) -> list[dict[str, Any]]:
    """The stack's APIs (tagged with it) the template no longer has."""
    named = {spec.name for spec in specs}
    return [api for api in apis.list_apis()
            if api.get("name") not in named and (api.get("tags") or {}).get(STACK_TAG) == stack_name]
