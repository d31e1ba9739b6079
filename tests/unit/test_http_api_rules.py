"""The pure rules of HTTP APIs: route keys as API Gateway parses them, and the function an integration names."""

from __future__ import annotations

import pytest

from faas.errors import BadRequest
from faas.services.http_apis import cors_for_serving, function_of, parse_route_key


@pytest.mark.parametrize("key, parsed", [
    ("$default", None),
    ("GET /", ("GET", ())),
    ("GET /users/{id}", ("GET", ("users", "{id}"))),
    ("ANY /files/{proxy+}", ("ANY", ("files", "{proxy+}"))),
    ("POST /a/b.json", ("POST", ("a", "b.json"))),
])
def test_route_keys_that_parse(key, parsed):
    assert parse_route_key(key) == parsed


@pytest.mark.parametrize("key", [
    "FETCH /x", "get /x", "GET x", "GET", "", None, 7, "GET /a/{proxy+}/b", "GET /{id}/{id}", "GET /a b",
    "GET /a/{", "GET /a//b",
])
def test_route_keys_that_are_refused(key):
    with pytest.raises(BadRequest):
        parse_route_key(key)


def test_the_function_an_integration_names():
    arn = "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert function_of(arn) == ("us-east-1", "000000000000", "hello")
    wrapped = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    assert function_of(wrapped) == ("us-east-1", "000000000000", "hello")
    assert function_of("https://example.com") is None and function_of(None) is None


def test_cors_for_serving_uses_the_url_sources_field_names():
    assert cors_for_serving({"allowOrigins": ["*"], "maxAge": 5}) == {"AllowOrigins": ["*"], "MaxAge": 5}
    assert cors_for_serving(None) is None and cors_for_serving({}) is None
