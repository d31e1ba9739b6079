"""JWT authorizers of HTTP APIs: a token checked against its issuer's keys, as API Gateway checks it.

The keys come from the issuer's OIDC discovery document (`<issuer>/.well-known/openid-configuration`, its
`jwks_uri`), fetched by the platform with a timeout and a size cap and kept for a while; a token signed
with a key id not in the kept set makes one early re-fetch (issuers rotate keys), at most once a minute.
Only RSA keys and RS256/384/512 signatures are accepted. A token must be signed by the issuer, not
expired or early, name the issuer in `iss`, and one of the audiences in `aud` (or `client_id`, as
Cognito's access tokens do).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import aiohttp
import jwt

from faas.errors import FaasError
from faas.services.http_apis import fetchable

ALGORITHMS = ["RS256", "RS384", "RS512"]
FETCH_TIMEOUT_S = 5
MAX_DOCUMENT_BYTES = 256 * 1024  # a discovery document or a key set larger than this is refused
KEYS_TTL_S = 600
REFETCH_AFTER_S = 60  # an unknown key id re-fetches the keys no sooner than this after the last fetch
LEEWAY_S = 60  # clock skew allowed on exp/nbf/iat


class Refused(FaasError):
    """The token is missing, malformed, not signed by the issuer, expired, or not for this audience."""


@dataclasses.dataclass
class _Keys:
    by_kid: dict[str, Any]
    fetched_at: float


def _due(keys: _Keys, kid: Any) -> bool:
    """Whether to fetch an issuer's keys again: they are old, or a token names a key id they lack."""
    age = time.monotonic() - keys.fetched_at
    return age > KEYS_TTL_S or (kid not in keys.by_kid and age > REFETCH_AFTER_S)


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """The token's scopes: `scope` (space-separated, OAuth 2.0) or `scp` (a list or a string)."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def claims_for_event(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them to a function: strings, lists as `[a b]`."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, list):
            out[name] = "[" + " ".join(str(item) for item in value) + "]"
        else:
            out[name] = json.dumps(value)
    return out


def token_from(header_value: str | None) -> str:
    """The token from the identity source's header, with or without a `Bearer ` prefix."""
    if not header_value:
        raise Refused("no token")
    scheme, _, rest = header_value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else header_value.strip()


class JwtVerifier:
    def __init__(self) -> None:
        self._keys: dict[str, _Keys] = {}  # by issuer
        self._locks: dict[str, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def verify(self, token: str, issuer: str, audiences: list[str]) -> dict[str, Any]:
        """The token's claims once it is good for this issuer and these audiences; Refused otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Refused(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise Refused(f"algorithm {header.get('alg')!r} is not accepted: RSA signatures only")
        key = await self._key(issuer, header.get("kid"))
        try:
            claims = jwt.decode(token, key=key, algorithms=ALGORITHMS, issuer=issuer, leeway=LEEWAY_S,
                                options={"verify_aud": False, "require": ["exp", "iss"]})
        except jwt.PyJWTError as exc:
            raise Refused(str(exc)) from exc
        aud = claims.get("aud")
        given = [*(aud if isinstance(aud, list) else [aud]), claims.get("client_id")]
        if not any(audience in given for audience in audiences):
            raise Refused("the token is not for this API's audience")
        return claims

    async def _key(self, issuer: str, kid: Any) -> Any:
        keys = self._keys.get(issuer)
        if keys is None or _due(keys, kid):
            async with self._locks.setdefault(issuer, asyncio.Lock()):  # one fetch for requests arriving together
                keys = self._keys.get(issuer)
                if keys is None or _due(keys, kid):
                    try:
                        keys = self._keys[issuer] = _Keys(await self._fetch_keys(issuer), time.monotonic())
                    except Refused:
                        if keys is None:
                            raise
                        # The issuer is unreachable: keep its last keys, and ask again only later.
                        keys.fetched_at = time.monotonic() - KEYS_TTL_S + REFETCH_AFTER_S
        if kid is None and len(keys.by_kid) == 1:
            return next(iter(keys.by_kid.values()))
        if kid not in keys.by_kid:
            raise Refused("the token's key id is not one of the issuer's keys")
        return keys.by_kid[kid]

    async def _fetch_keys(self, issuer: str) -> dict[str, Any]:
        discovery = await self._fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
        if not isinstance(jwks_uri, str):
            raise Refused("the issuer's discovery document has no jwks_uri")
        if not fetchable(jwks_uri):  # the issuer's rule holds for where it sends the platform next
            raise Refused(f"the issuer's jwks_uri {jwks_uri[:256]!r} is neither HTTPS nor on a loopback address")
        document = await self._fetch_json(jwks_uri)
        keys: dict[str, Any] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK.from_dict(entry, algorithm="RS256").key
            except jwt.PyJWTError:
                continue  # one bad key does not spoil the others
        if not keys:
            raise Refused("the issuer publishes no RSA signing keys")
        return keys

    async def _fetch_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S))
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise Refused(f"{url} answered {response.status}")
                data = b""
                while len(data) <= MAX_DOCUMENT_BYTES and (chunk := await response.content.readany()):
                    data += chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Refused(f"{url} could not be fetched: {exc.__class__.__name__}") from exc
        if len(data) > MAX_DOCUMENT_BYTES:
            raise Refused(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise Refused(f"{url} is not JSON") from exc
