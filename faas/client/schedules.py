"""EventBridge Scheduler on the faas endpoint as methods of `ScheduleClient` (REST-JSON at /schedules, signed
for the credential scope's service `scheduler`, as boto3's `scheduler` client calls it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faas.client.transport import ClientError, Transport, pages, quote_segment

SERVICE = "scheduler"
JSON = {"Content-Type": "application/json"}


class ScheduleClient(Transport):
    """The schedule operations the `faas schedules` verbs use."""

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None,
              query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({k: v for k, v in payload.items() if v is not None}).encode() if payload else None
        answer = self.request(method, path, body=body, headers=JSON if body else None, query=query,
                              service=SERVICE).json()
        if not isinstance(answer, dict):
            raise ClientError("InvalidResponse", f"the platform answered {method} {path} with {answer!r}", 200)
        return answer

    def create_schedule(self, name: str, settings: Mapping[str, Any]) -> str:
        """CreateSchedule; `settings` are its body (ScheduleExpression, Target, ...). Returns the ARN."""
        return str(self._call("POST", f"/schedules/{quote_segment(name)}", settings)["ScheduleArn"])

    def get_schedule(self, name: str, group: str | None = None) -> dict[str, Any]:
        return self._call("GET", f"/schedules/{quote_segment(name)}", query={"groupName": group})

    def update_schedule(self, name: str, settings: Mapping[str, Any]) -> str:
        return str(self._call("PUT", f"/schedules/{quote_segment(name)}", settings)["ScheduleArn"])

    def delete_schedule(self, name: str, group: str | None = None) -> None:
        self._call("DELETE", f"/schedules/{quote_segment(name)}", query={"groupName": group})

    def list_schedules(self, group: str | None = None, prefix: str | None = None) -> list[dict[str, Any]]:
        """Every schedule (of the group, with the name prefix), following NextToken."""
        return pages(lambda token: self._call("GET", "/schedules", query={
            "ScheduleGroup": group, "NamePrefix": prefix, "NextToken": token}), "Schedules", "NextToken")
