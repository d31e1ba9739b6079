"""The pure parts of JWT authorizers: issuers allowed, tokens from headers, scopes and claims as API Gateway
passes them."""

from __future__ import annotations

import pytest

from faas.errors import BadRequest
from faas.services.http_apis import check_issuer
from faas.sources.jwt_authorizers import Refused, claims_for_event, scopes_of, token_from


@pytest.mark.parametrize("issuer", ["https://auth.example.com", "https://auth.example.com/tenant/",
                                    "http://127.0.0.1:8080", "http://127.3.4.5", "http://localhost:9000/x",
                                    "http://[::1]:8080"])
def test_issuers_allowed(issuer):
    assert check_issuer(issuer) == issuer


@pytest.mark.parametrize("issuer", ["http://auth.example.com", "http://10.0.0.1", "ftp://127.0.0.1", "https://",
                                    "auth.example.com", None, 5])
def test_issuers_refused(issuer):
    with pytest.raises(BadRequest):
        check_issuer(issuer)


def test_tokens_with_or_without_bearer():
    assert token_from("Bearer abc.def.ghi") == "abc.def.ghi"
    assert token_from("bearer abc") == "abc"
    assert token_from("abc.def.ghi") == "abc.def.ghi"
    for missing in (None, ""):
        with pytest.raises(Refused):
            token_from(missing)


def test_scopes_and_claims():
    assert scopes_of({"scope": "a b"}) == ["a", "b"]
    assert scopes_of({"scp": ["a", "b"]}) == ["a", "b"]
    assert scopes_of({}) == []
    assert claims_for_event({"sub": "x", "groups": ["a", "b"], "exp": 5, "ok": True}) == {
        "sub": "x", "groups": "[a b]", "exp": "5", "ok": "true"}
