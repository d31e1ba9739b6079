"""Function URLs: configurations (auth type, CORS) and the lookup a URL request starts with (cached)."""

from __future__ import annotations

import secrets
import string
from typing import Any

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.model import timestamp_ms, utcnow
from faas.services.cache import TtlCache
from faas.sources.url_events import validate_cors
from faas.store.urls import UrlConfig, UrlStore

AUTH_TYPES = ("NONE", "AWS_IAM")
_ID_ALPHABET = string.ascii_lowercase + string.digits


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
                           _auth_type(params.get("AuthType")), validate_cors(params.get("Cors") or {}), now, now)
        await self._store.add(config)
        self._by_id.pop(config.url_id)
        return config

    async def update(self, function_name: str, params: dict[str, Any]) -> UrlConfig:
        current = await self.get(function_name)
        auth_type = _auth_type(params["AuthType"]) if "AuthType" in params else current.auth_type
        cors = validate_cors(params["Cors"] or {}) if "Cors" in params else current.cors
        config = UrlConfig(function_name, current.url_id, auth_type, cors, current.created_at, utcnow())
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
            "InvokeMode": "BUFFERED",
        }
        if config.cors:
            shape["Cors"] = config.cors
        return shape


def _auth_type(value: Any) -> str:
    if value not in AUTH_TYPES:
        raise InvalidParameterValue("AuthType must be NONE or AWS_IAM")
    return value
