"""JWT authorizers' key fetching (faas.sources.jwt_authorizers) against a real HTTP server on 127.0.0.1: the
discovery document then the key set, fetched once and kept; key rotation; an issuer that stops answering
keeps its last keys; and the limits on what the platform fetches (size, time, redirects, where jwks_uri
may point)."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from faas.sources import jwt_authorizers
from faas.sources.jwt_authorizers import JwtVerifier, Refused

AUDIENCE = "api"


def b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def jwk(key, kid: str) -> dict:  # type: ignore[no-untyped-def]
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "n": b64(numbers.n), "e": b64(numbers.e)}


class Issuer:
    def __init__(self) -> None:
        self.keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.fetches: list[str] = []
        self.jwks_uri: str | None = None  # default: its own /jwks.json
        self.jwks_padding = 0
        self.delay_s = 0.0
        self.failing = False
        self.redirect = False
        self.url = ""

    def app(self) -> web.Application:
        async def discovery(request: web.Request) -> web.Response:
            self.fetches.append("discovery")
            if self.redirect:
                raise web.HTTPFound("https://example.com/")
            if self.failing:
                return web.Response(status=503)
            await asyncio.sleep(self.delay_s)
            return web.json_response({"issuer": self.url, "jwks_uri": self.jwks_uri or self.url + "/jwks.json"})

        async def jwks(request: web.Request) -> web.Response:
            self.fetches.append("jwks")
            body = {"keys": [jwk(key, kid) for kid, key in self.keys.items()] + [{"kty": "EC", "kid": "ec"}],
                    "padding": "x" * self.jwks_padding}
            return web.json_response(body)

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/jwks.json", jwks)
        return app

    def token(self, kid: str = "k1", **claims) -> str:  # type: ignore[no-untyped-def]
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "s", "exp": int(time.time()) + 300, **claims}
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def issuer():  # type: ignore[no-untyped-def]
    made = Issuer()
    server = TestServer(made.app(), host="127.0.0.1")
    await server.start_server()
    made.url = str(server.make_url("")).rstrip("/")
    yield made
    await server.close()


@pytest.fixture
async def verifier():  # type: ignore[no-untyped-def]
    made = JwtVerifier()
    yield made
    await made.close()


async def test_keys_are_fetched_once_and_kept(issuer, verifier):
    for _ in range(3):
        claims = await verifier.verify(issuer.token(), issuer.url, [AUDIENCE])
        assert claims["sub"] == "s"
    assert issuer.fetches == ["discovery", "jwks"]


async def test_a_rotated_key_is_fetched_again(issuer, verifier, monkeypatch):
    await verifier.verify(issuer.token(), issuer.url, [AUDIENCE])
    issuer.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Refused):  # within a minute of the last fetch an unknown key id fetches nothing
        await verifier.verify(issuer.token("k2"), issuer.url, [AUDIENCE])
    monkeypatch.setattr(jwt_authorizers, "REFETCH_AFTER_S", 0)
    assert (await verifier.verify(issuer.token("k2"), issuer.url, [AUDIENCE]))["sub"] == "s"
    assert issuer.fetches == ["discovery", "jwks", "discovery", "jwks"]


async def test_an_issuer_that_stops_answering_keeps_its_last_keys(issuer, verifier, monkeypatch):
    await verifier.verify(issuer.token(), issuer.url, [AUDIENCE])
    issuer.failing = True
    monkeypatch.setattr(jwt_authorizers, "KEYS_TTL_S", 0)
    assert (await verifier.verify(issuer.token(), issuer.url, [AUDIENCE]))["sub"] == "s"


@pytest.mark.parametrize("setup", ["too_large", "redirect", "plain_http_elsewhere", "slow"])
async def test_what_the_platform_will_not_fetch(issuer, verifier, monkeypatch, setup):
    if setup == "too_large":
        issuer.jwks_padding = jwt_authorizers.MAX_DOCUMENT_BYTES
    elif setup == "redirect":
        issuer.redirect = True
    elif setup == "plain_http_elsewhere":
        issuer.jwks_uri = "http://192.0.2.1/jwks.json"  # would be fetched from the platform's network
    else:
        monkeypatch.setattr(jwt_authorizers, "FETCH_TIMEOUT_S", 0.2)
        issuer.delay_s = 5
    with pytest.raises(Refused):
        await verifier.verify(issuer.token(), issuer.url, [AUDIENCE])
    assert "jwks" not in issuer.fetches or setup == "too_large"


async def test_tokens_are_checked_for_issuer_audience_and_algorithm(issuer, verifier):
    await verifier.verify(issuer.token(), issuer.url, [AUDIENCE])
    for token in (issuer.token(aud="other"), issuer.token(iss="http://127.0.0.1:1"),
                  issuer.token(exp=int(time.time()) - 600), issuer.token()[:-4] + "AAAA",
                  jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, None,
                             algorithm="none")):
        with pytest.raises(Refused):
            await verifier.verify(token, issuer.url, [AUDIENCE])
    # Cognito's access tokens name the app client in client_id, not aud.
    assert await verifier.verify(issuer.token(aud=None, client_id=AUDIENCE), issuer.url, [AUDIENCE])
    assert json.dumps(issuer.fetches) == '["discovery", "jwks"]'
