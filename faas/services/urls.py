"""Function URLs: configurations (auth type, CORS, checked here) and the lookup a URL request starts with
(cached)."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound, ValidationError
from faas.model import timestamp_ms, utcnow
from faas.services.cache import TtlCache
from faas.store.urls import UrlConfig, UrlStore

AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
_ID_ALPHABET = string.ascii_lowercase + string.digits
ALLOWED_METHODS = ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*")
MAX_AGE_S = 86_400
# field -> (most items, longest item), from the Lambda API's Cors shape.
_LIST_LIMITS = {
    "AllowHeaders": (100, 1024),
    "AllowMethods": (6, 6),
    "AllowOrigins": (100, 253),
    "ExposeHeaders": (100, 1024),
}
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@]+$")
# What a header value may not hold: a CORS item is sent back as one, and CR/LF could split a response.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class UrlService:
    def __init__(self, store: UrlStore, function_arn, domain: str,  # type: ignore[no-untyped-def]
                 scheme: str = "http") -> None:
        self._store = store
        self._function_arn = function_arn
        self.domain = domain
        self.scheme = scheme  # https when the API serves TLS: URLs are served on its port
        self._by_id: TtlCache[UrlConfig] = TtlCache()

    async def for_url_id(self, url_id: str) -> UrlConfig | None:
        config = self._by_id.get(url_id)
        if config is None:  # unknown ids are not cached: anyone can make up as many as they like
            config = await self._store.by_url_id(url_id)
            if config is not None:
                self._by_id.put(url_id, config)
        return config

    async def get(self, function_name: str) -> UrlConfig:
        config = await self._store.get(function_name)
        if config is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return config

    async def create(self, function_name: str, params: dict[str, Any]) -> UrlConfig:
        now = utcnow()
        config = UrlConfig(function_name, "".join(secrets.choice(_ID_ALPHABET) for _ in range(32)),
                           _auth_type(params.get("AuthType")), validate_cors(params.get("Cors") or {}), now, now,
                           _invoke_mode(params.get("InvokeMode", "BUFFERED")))
        try:
            await self._store.add(config)
        except ResourceConflict as exc:  # Lambda's words, which name the function by its ARN
            raise ResourceConflict(f"Failed to create function url config for [functionArn = "
                                   f"{self._function_arn(function_name)}]. Error message:  FunctionUrlConfig exists "
                                   "for this Lambda function") from exc
        self._by_id.pop(config.url_id)
        return config

    async def update(self, function_name: str, params: dict[str, Any]) -> UrlConfig:
        current = await self.get(function_name)
        auth_type = _auth_type(params["AuthType"]) if "AuthType" in params else current.auth_type
        cors = validate_cors(params["Cors"] or {}) if "Cors" in params else current.cors
        invoke_mode = _invoke_mode(params["InvokeMode"]) if "InvokeMode" in params else current.invoke_mode
        config = UrlConfig(function_name, current.url_id, auth_type, cors, current.created_at, utcnow(), invoke_mode)
        await self._store.replace(config)
        self._by_id.pop(config.url_id)
        return config

    async def delete(self, function_name: str) -> None:
        current = await self.get(function_name)
        await self._store.delete(function_name)
        self._by_id.pop(current.url_id)

    def forget_function(self, function_name: str) -> None:
        self._by_id.drop_where(lambda config: config.function_name == function_name)

    def shape(self, config: UrlConfig, port: int | None) -> dict[str, Any]:
        default_port = 443 if self.scheme == "https" else 80
        host = f"{config.url_id}.{self.domain}" + (f":{port}" if port and port != default_port else "")
        shape: dict[str, Any] = {
            "FunctionUrl": f"{self.scheme}://{host}/",
            "FunctionArn": self._function_arn(config.function_name),
            "AuthType": config.auth_type,
            "CreationTime": timestamp_ms(config.created_at),
            "LastModifiedTime": timestamp_ms(config.last_modified),
            "InvokeMode": config.invoke_mode,
        }
        if config.cors:
            shape["Cors"] = config.cors
        return shape


def _auth_type(value: Any) -> str:
    if value not in AUTH_TYPES:
        raise InvalidParameterValue("AuthType must be NONE or AWS_IAM")
    return value


def _invoke_mode(value: Any) -> str:
    if value not in INVOKE_MODES:
        raise ValidationError(f"1 validation error detected: Value '{str(value)[:100]}' at 'invokeMode' failed to "
                              f"satisfy constraint: Member must satisfy enum value set: [{', '.join(INVOKE_MODES)}]")
    return value


def validate_cors(value: Any) -> dict[str, Any]:
    """A checked copy of a FunctionUrlConfig Cors object; methods upper-cased, null fields dropped."""
    if not isinstance(value, dict):
        raise InvalidParameterValue("Cors must be an object")
    unknown = sorted(set(value) - {"AllowCredentials", "MaxAge", *_LIST_LIMITS})
    if unknown:
        raise InvalidParameterValue(f"Cors has unknown fields: {', '.join(unknown)}")
    cors: dict[str, Any] = {}
    credentials = value.get("AllowCredentials")
    if credentials is not None:
        if not isinstance(credentials, bool):
            raise InvalidParameterValue(f"Cors.AllowCredentials must be a boolean; got {credentials!r}")
        cors["AllowCredentials"] = credentials
    for field, (most, longest) in _LIST_LIMITS.items():
        items = value.get(field)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise InvalidParameterValue(f"Cors.{field} must be a list of strings")
        if len(items) > most:
            raise InvalidParameterValue(f"Cors.{field} has {len(items)} items; at most {most} are allowed")
        for item in items:
            if field == "AllowMethods" and item.upper() not in ALLOWED_METHODS:
                raise InvalidParameterValue(
                    f"Cors.AllowMethods item {item!r} is not valid; use {', '.join(ALLOWED_METHODS)}")
            if not item or len(item) > longest or _CONTROL.search(item) or "\t" in item:
                raise InvalidParameterValue(
                    f"Cors.{field} item {item!r} must be 1-{longest} characters with no control characters")
        cors[field] = [item.upper() for item in items] if field == "AllowMethods" else items
    for origin in cors.get("AllowOrigins", []):
        if origin != "*" and not _ORIGIN.match(origin):
            raise InvalidParameterValue(
                f"Cors.AllowOrigins item {origin!r} is not valid; use an origin like https://example.com, or *")
    max_age = value.get("MaxAge")
    if max_age is not None:
        if not isinstance(max_age, int) or isinstance(max_age, bool) or not 0 <= max_age <= MAX_AGE_S:
            raise InvalidParameterValue(f"Cors.MaxAge must be an integer between 0 and {MAX_AGE_S}; got {max_age!r}")
        cors["MaxAge"] = max_age
    return cors
