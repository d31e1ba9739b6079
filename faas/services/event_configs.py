"""Event-invoke configs: retries, maximum event age and destinations of asynchronous invocations."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.model import LATEST, utcnow
from faas.store.event_configs import EventConfigStore, EventInvokeConfig

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 6 * 3600
FUNCTION_ARN_RE = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]{1,64})(:\$LATEST)?")


def defaults(function_name: str) -> EventInvokeConfig:
    return EventInvokeConfig(function_name, DEFAULT_RETRIES, DEFAULT_MAX_AGE_S, None, None, utcnow())


def destination_function(arn: str) -> str:
    """The function a destination ARN names (only function destinations exist here)."""
    match = FUNCTION_ARN_RE.fullmatch(arn)
    if not match:
        raise InvalidParameterValue(
            f"The destination ARN {arn[:256]} is not valid: destinations must be Lambda function ARNs "
            "(queues, topics and buses are not supported)")
    return match.group(1)


class EventConfigService:
    def __init__(self, store: EventConfigStore, function_arn,  # type: ignore[no-untyped-def]
                 may_invoke: Callable[[str, str, str], Awaitable[bool]]) -> None:
        self._store = store
        self._function_arn = function_arn
        self._may_invoke = may_invoke  # (role ARN, source function, destination function) -> allowed

    async def effective(self, function_name: str) -> EventInvokeConfig:
        return await self._store.config(function_name) or defaults(function_name)

    async def effective_or_none(self, function_name: str) -> EventInvokeConfig | None:
        return await self._store.config(function_name)

    async def get(self, function_name: str) -> EventInvokeConfig:
        config = await self._store.config(function_name)
        if config is None:
            raise ResourceNotFound(f"The function {self._function_arn(function_name)}:{LATEST} doesn't have an "
                                   "EventInvokeConfig")
        return config

    async def put(self, function_name: str, role: str, params: dict[str, Any], *, merge: bool) -> EventInvokeConfig:
        """Put replaces the whole config; Update changes only the fields given. `role` is the function's
        execution role: a destination it may not invoke is refused, as Lambda does."""
        base = (await self._store.config(function_name) if merge else None) or defaults(function_name)
        retries = base.maximum_retry_attempts
        if "MaximumRetryAttempts" in params:
            retries = _int(params["MaximumRetryAttempts"], "MaximumRetryAttempts", 0, 2)
        max_age = base.maximum_event_age_s
        if "MaximumEventAgeInSeconds" in params:
            max_age = _int(params["MaximumEventAgeInSeconds"], "MaximumEventAgeInSeconds", 60, 21600)
        on_success, on_failure = base.on_success, base.on_failure
        if "DestinationConfig" in params:
            destinations = params["DestinationConfig"]
            if not isinstance(destinations, dict):
                raise InvalidParameterValue("DestinationConfig must be an object")
            on_success = _destination(destinations, "OnSuccess", on_success if merge else None)
            on_failure = _destination(destinations, "OnFailure", on_failure if merge else None)
            # Only the destinations this request names are checked: one configured earlier whose
            # permission was revoked since is caught at delivery instead.
            for key, arn in (("OnSuccess", on_success), ("OnFailure", on_failure)):
                if key in destinations and arn is not None:
                    await self._check_destination(function_name, role, arn)
        config = EventInvokeConfig(function_name, retries, max_age, on_success, on_failure, utcnow())
        await self._store.put_config(config)
        return config

    async def _check_destination(self, function_name: str, role: str, arn: str) -> None:
        destination = destination_function(arn)
        if arn not in (self._function_arn(destination), f"{self._function_arn(destination)}:{LATEST}"):
            raise InvalidParameterValue(
                f"The destination ARN {arn[:256]} names a function outside this platform: destinations must be "
                f"functions of this region and account ({self._function_arn(destination)})")
        if not await self._may_invoke(role, function_name, destination):
            raise InvalidParameterValue(
                f"The function's execution role {role} does not have permissions to call InvokeFunction on {arn}: "
                "allow it lambda:InvokeFunction on the destination (in the role's policy, or with AddPermission on "
                "the destination)")

    async def delete(self, function_name: str) -> None:
        if not await self._store.delete_config(function_name):
            await self.get(function_name)  # raises the not-found error

    def shape(self, config: EventInvokeConfig) -> dict[str, Any]:
        destinations: dict[str, Any] = {}
        if config.on_success:
            destinations["OnSuccess"] = {"Destination": config.on_success}
        if config.on_failure:
            destinations["OnFailure"] = {"Destination": config.on_failure}
        return {
            "LastModified": config.last_modified.timestamp(),
            "FunctionArn": f"{self._function_arn(config.function_name)}:{LATEST}",
            "MaximumRetryAttempts": config.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": config.maximum_event_age_s,
            "DestinationConfig": destinations,
        }


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterValue(f"{name} must be an integer between {low} and {high}")
    return value


def _destination(destinations: dict[str, Any], key: str, current: str | None) -> str | None:
    if key not in destinations:
        return current
    value = destinations[key]
    if not isinstance(value, dict):
        raise InvalidParameterValue(f"DestinationConfig.{key} must be an object")
    arn = value.get("Destination")
    if arn in (None, ""):
        return None
    if not isinstance(arn, str):
        raise InvalidParameterValue(f"DestinationConfig.{key}.Destination must be an ARN")
    destination_function(arn)
    return arn
