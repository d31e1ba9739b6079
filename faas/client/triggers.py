"""Lambda's event source mappings on the faas endpoint as methods of `MappingClient` (REST-JSON, as boto3's
`lambda` client calls them)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faas.client.transport import ClientError, Transport, pages, quote_segment

MAPPINGS = "/2015-03-31/event-source-mappings"
JSON = {"Content-Type": "application/json"}


class MappingClient(Transport):
    """The event-source-mapping operations the `faas triggers` verbs use."""

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None,
              query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({k: v for k, v in payload.items() if v is not None}).encode() if payload else None
        answer = self.request(method, path, body=body, headers=JSON if body else None, query=query).json()
        if not isinstance(answer, dict):
            raise ClientError("InvalidResponse", f"the platform answered {method} {path} with {answer!r}", 200)
        return answer

    def create_mapping(self, function: str, source_arn: str, **settings: Any) -> dict[str, Any]:
        """CreateEventSourceMapping; `settings` are its other fields (BatchSize=..., ...)."""
        return self._call("POST", MAPPINGS, {"FunctionName": function, "EventSourceArn": source_arn, **settings})

    def list_mappings(self, function: str) -> list[dict[str, Any]]:
        """Every mapping of a function, following NextMarker."""
        return pages(lambda marker: self._call("GET", MAPPINGS, query={"FunctionName": function, "Marker": marker}),
                     "EventSourceMappings", "NextMarker")

    def update_mapping(self, uuid: str, **settings: Any) -> dict[str, Any]:
        return self._call("PUT", f"{MAPPINGS}/{quote_segment(uuid)}", settings)

    def delete_mapping(self, uuid: str) -> dict[str, Any]:
        return self._call("DELETE", f"{MAPPINGS}/{quote_segment(uuid)}")
