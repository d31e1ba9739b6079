"""CloudWatch Logs on the faas endpoint as methods of `LogsClient`: its JSON protocol (one POST to `/` per
operation, named by `X-Amz-Target: Logs_20140328.<Operation>`, signed for the credential scope's service
`logs`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faas.client.transport import ClientError, Transport

SERVICE = "logs"
TARGET_PREFIX = "Logs_20140328"
CONTENT_TYPE = "application/x-amz-json-1.1"


class LogsClient(Transport):
    """The Logs operations `faas logs` uses."""

    def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        headers = {"X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": CONTENT_TYPE}
        body = json.dumps({k: v for k, v in payload.items() if v is not None}).encode("utf-8")
        answer = self.request("POST", "/", body=body, headers=headers, service=SERVICE).json()
        if not isinstance(answer, dict):
            raise ClientError("InvalidResponse", f"the platform answered {operation} with {answer!r}", 200)
        return answer

    def filter_events(self, group: str, *, start_ms: int | None, pattern: str | None,
                      token: str | None = None) -> dict[str, Any]:
        """One page of FilterLogEvents: {"events": [...], "nextToken"?: ...}."""
        return self.call("FilterLogEvents", {"logGroupName": group, "startTime": start_ms, "filterPattern": pattern,
                                             "nextToken": token, "interleaved": True})
