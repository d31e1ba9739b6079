"""EventBridge on the faas endpoint as methods of `EventsClient`: its JSON protocol (one POST to `/` per
operation, named by `X-Amz-Target: AWSEvents.<Operation>`, signed for the credential scope's service
`events`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faas.client.transport import ClientError, JsonProtocolClient, pages


class EventsClient(JsonProtocolClient):
    """EventBridge's operations the `faas rules` and `faas events` verbs use."""

    SERVICE = "events"
    TARGET_PREFIX = "AWSEvents"
    CONTENT_TYPE = "application/x-amz-json-1.1"

    def put_rule(self, name: str, pattern: str | None, *, schedule: str | None = None, bus: str | None,
                 description: str | None, enabled: bool) -> str:
        return str(self.call("PutRule", {"Name": name, "EventPattern": pattern, "ScheduleExpression": schedule,
                                         "EventBusName": bus,
                                         "Description": description,
                                         "State": "ENABLED" if enabled else "DISABLED"})["RuleArn"])

    def rules(self, bus: str | None, prefix: str | None) -> list[dict[str, Any]]:
        return pages(lambda token: self.call("ListRules", {"EventBusName": bus, "NamePrefix": prefix,
                                                           "NextToken": token}), "Rules", "NextToken")

    def delete_rule(self, name: str, bus: str | None) -> None:
        """The rule and its targets (DeleteRule with Force)."""
        self.call("DeleteRule", {"Name": name, "EventBusName": bus, "Force": True})

    def targets(self, rule: str, bus: str | None) -> list[dict[str, Any]]:
        return pages(lambda token: self.call("ListTargetsByRule", {"Rule": rule, "EventBusName": bus,
                                                                   "NextToken": token}), "Targets", "NextToken")

    def put_target(self, rule: str, bus: str | None, target: Mapping[str, Any]) -> None:
        failed = self.call("PutTargets", {"Rule": rule, "EventBusName": bus, "Targets": [dict(target)]})
        for entry in failed.get("FailedEntries") or []:
            raise ClientError(entry.get("ErrorCode", ""), entry.get("ErrorMessage", ""), 400)

    def remove_target(self, rule: str, bus: str | None, target_id: str) -> None:
        failed = self.call("RemoveTargets", {"Rule": rule, "EventBusName": bus, "Ids": [target_id]})
        for entry in failed.get("FailedEntries") or []:
            raise ClientError(entry.get("ErrorCode", ""), entry.get("ErrorMessage", ""), 400)

    def put_event(self, entry: Mapping[str, Any]) -> str:
        """PutEvents with one entry; its EventId, or its error as a ClientError."""
        [result] = self.call("PutEvents", {"Entries": [dict(entry)]})["Entries"]
        if "ErrorCode" in result:
            raise ClientError(result["ErrorCode"], result.get("ErrorMessage", ""), 400)
        return str(result["EventId"])
