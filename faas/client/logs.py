"""CloudWatch Logs on the faas endpoint as methods of `LogsClient`: its JSON protocol (one POST to `/` per
operation, named by `X-Amz-Target: Logs_20140328.<Operation>`, signed for the credential scope's service
`logs`)."""

from __future__ import annotations

from typing import Any

from faas.client.transport import JsonProtocolClient


class LogsClient(JsonProtocolClient):
    """The Logs operations `faas logs` uses."""

    SERVICE = "logs"
    TARGET_PREFIX = "Logs_20140328"
    CONTENT_TYPE = "application/x-amz-json-1.1"

    def filter_events(self, group: str, *, start_ms: int | None, pattern: str | None,
                      token: str | None = None) -> dict[str, Any]:
        """One page of FilterLogEvents: {"events": [...], "nextToken"?: ...}."""
        return self.call("FilterLogEvents", {"logGroupName": group, "startTime": start_ms, "filterPattern": pattern,
                                             "nextToken": token, "interleaved": True})
