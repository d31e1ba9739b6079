"""HTTP APIs (API Gateway v2) on the faas endpoint as methods of `HttpApiClient`: rest-json under `/v2/apis`,
signed for the credential scope's service `apigateway`, as boto3's `apigatewayv2` client calls them. It is a
Lambda client too: adding a route to a function also lets API Gateway invoke that function."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faas.client.api import Client
from faas.client.transport import ClientError, quote_segment

APIS = "/v2/apis"
SERVICE = "apigateway"
JSON = {"Content-Type": "application/json"}


class HttpApiClient(Client):
    """The API Gateway v2 operations the `faas apis` verbs use."""

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({k: v for k, v in payload.items() if v is not None}).encode() if payload else None
        response = self.request(method, path, body=body, headers=JSON if body else None, service=SERVICE)
        if response.status == 204:
            return {}
        answer = response.json()
        if not isinstance(answer, dict):
            raise ClientError("InvalidResponse", f"the platform answered {method} {path} with {answer!r}", 200)
        return answer

    def create_api(self, name: str, *, target: str | None = None, route_key: str | None = None,
                   cors: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        """CreateApi (HTTP); with `target` (a function ARN) the quick-create form."""
        return self._call("POST", APIS, {"name": name, "protocolType": "HTTP", "target": target,
                                         "routeKey": route_key, "corsConfiguration": cors, "tags": tags})

    def update_cors(self, api_id: str, cors: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"{APIS}/{quote_segment(api_id)}", {"corsConfiguration": cors})

    def list_apis(self) -> list[dict[str, Any]]:
        return list(self._call("GET", APIS).get("items") or [])

    def delete_api(self, api_id: str) -> None:
        self._call("DELETE", f"{APIS}/{quote_segment(api_id)}")

    def list_routes(self, api_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{APIS}/{quote_segment(api_id)}/routes").get("items") or [])

    def list_integrations(self, api_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{APIS}/{quote_segment(api_id)}/integrations").get("items") or [])

    def create_integration(self, api_id: str, function_arn: str, payload_version: str) -> dict[str, Any]:
        return self._call("POST", f"{APIS}/{quote_segment(api_id)}/integrations", {
            "integrationType": "AWS_PROXY", "integrationUri": function_arn, "payloadFormatVersion": payload_version})

    def delete_integration(self, api_id: str, integration_id: str) -> None:
        self._call("DELETE", f"{APIS}/{quote_segment(api_id)}/integrations/{quote_segment(integration_id)}")

    def create_route(self, api_id: str, route_key: str, integration_id: str, *,
                     authorization_type: str | None = None, authorizer_id: str | None = None,
                     authorization_scopes: list[str] | None = None) -> dict[str, Any]:
        return self._call("POST", f"{APIS}/{quote_segment(api_id)}/routes", {
            "routeKey": route_key, "target": f"integrations/{integration_id}",
            "authorizationType": authorization_type, "authorizerId": authorizer_id,
            "authorizationScopes": authorization_scopes})

    def update_route(self, api_id: str, route_id: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"{APIS}/{quote_segment(api_id)}/routes/{quote_segment(route_id)}", settings)

    def delete_route(self, api_id: str, route_id: str) -> None:
        self._call("DELETE", f"{APIS}/{quote_segment(api_id)}/routes/{quote_segment(route_id)}")

    def list_authorizers(self, api_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{APIS}/{quote_segment(api_id)}/authorizers").get("items") or [])

    def create_authorizer(self, api_id: str, authorizer: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"{APIS}/{quote_segment(api_id)}/authorizers", authorizer)

    def delete_authorizer(self, api_id: str, authorizer_id: str) -> None:
        self._call("DELETE", f"{APIS}/{quote_segment(api_id)}/authorizers/{quote_segment(authorizer_id)}")

    def delete_stage(self, api_id: str, name: str) -> None:
        self._call("DELETE", f"{APIS}/{quote_segment(api_id)}/stages/{quote_segment(name)}")

    def list_stages(self, api_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{APIS}/{quote_segment(api_id)}/stages").get("items") or [])

    def create_stage(self, api_id: str, name: str) -> dict[str, Any]:
        return self._call("POST", f"{APIS}/{quote_segment(api_id)}/stages", {"stageName": name, "autoDeploy": True})
