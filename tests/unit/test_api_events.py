"""Payload format 1.0 responses of HTTP APIs: what maps, and what is API Gateway's 500."""

from __future__ import annotations

import json

import pytest

from faas.sources.api_events import response_v1

ERROR = (500, [("Content-Type", "application/json")], b'{"message": "Internal Server Error"}')


def test_a_full_response_maps_with_multi_value_headers_and_cookies():
    status, headers, body = response_v1(json.dumps({
        "statusCode": 201, "headers": {"X-One": "1", "Set-Cookie": "first=1"},
        "multiValueHeaders": {"X-Many": ["a", "b"], "Set-Cookie": ["second=2", "third=3"]},
        "body": "aGk=", "isBase64Encoded": True}).encode(), None)
    assert (status, body) == (201, b"hi")
    assert ("X-Many", "a,b") in headers and ("X-One", "1") in headers
    assert [v for k, v in headers if k == "Set-Cookie"] == ["first=1", "second=2", "third=3"]


@pytest.mark.parametrize("payload", [
    b'{"no": "status"}', b'"text"', b"not json", b'{"statusCode": 200, "body": {"an": "object"}}',
    b'{"statusCode": 200, "multiValueHeaders": {"X": "not a list"}}', b'{"statusCode": 99}',
])
def test_what_api_gateway_answers_with_its_500(payload):
    assert response_v1(payload, None) == ERROR


def test_a_function_error_is_the_500():
    assert response_v1(b'{"statusCode": 200}', "Unhandled") == ERROR
