"""Event-invoke configs: retries, maximum event age and destinations of asynchronous invocations."""

from __future__ import annotations

from typing import Any

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.model import LATEST, utcnow
from faas.services.destinations import Destinations, parse_target
from faas.store.event_configs import EventConfigStore, EventInvokeConfig

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 6 * 3600


def defaults(function_name: str) -> EventInvokeConfig:
    return EventInvokeConfig(function_name, DEFAULT_RETRIES, DEFAULT_MAX_AGE_S, None, None, utcnow())


class EventConfigService:
    def __init__(self, store: EventConfigStore, function_arn,  # type: ignore[no-untyped-def]
                 destinations: Destinations) -> None:
        self._store = store
        self._function_arn = function_arn
        self._destinations = destinations

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
                    await self._destinations.check(role, function_name, parse_target(arn))
        config = EventInvokeConfig(function_name, retries, max_age, on_success, on_failure, utcnow())
        await self._store.put_config(config)
        return config

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
    parse_target(arn)
    return arn
