"""CORS on its own: how a function URL answers preflights and decorates responses (faas.sources.cors), and
how a CORS configuration is checked before it is stored (faas.services.urls)."""

from __future__ import annotations

import pytest

from faas.errors import InvalidParameterValue
from faas.services.urls import validate_cors
from faas.sources.cors import cors_headers, preflight

SITE = "https://app.example.com"
CORS = {"AllowOrigins": [SITE], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["content-type", "x-api-key"],
        "ExposeHeaders": ["x-request-id"], "MaxAge": 600}


def preflight_headers(origin: str | None = SITE, method: str = "POST", **more: str) -> dict[str, str]:
    headers = {"Access-Control-Request-Method": method, **more}
    if origin is not None:
        headers["Origin"] = origin
    return headers


PREFLIGHT_CASES = [
    # id, cors, method, request headers, expected
    ("allowed-origin", CORS, "OPTIONS", preflight_headers(),
     (200, [("Access-Control-Allow-Origin", SITE), ("Access-Control-Allow-Methods", "GET,POST"),
            ("Access-Control-Allow-Headers", "content-type,x-api-key"), ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin")])),
    ("origin-case-insensitive", CORS, "options", preflight_headers("HTTPS://APP.EXAMPLE.COM"),
     (200, [("Access-Control-Allow-Origin", "HTTPS://APP.EXAMPLE.COM"), ("Access-Control-Allow-Methods", "GET,POST"),
            ("Access-Control-Allow-Headers", "content-type,x-api-key"), ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin")])),
    ("refused-origin", CORS, "OPTIONS", preflight_headers("https://evil.example"), (200, [])),
    ("wildcard", {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}, "OPTIONS",
     preflight_headers("https://any.example", "DELETE"),
     (200, [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "*"),
            ("Access-Control-Allow-Headers", "*")])),
    ("wildcard-with-credentials", {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"],
                                   "AllowCredentials": True}, "OPTIONS",
     preflight_headers("https://any.example", "delete", **{"Access-Control-Request-Headers": "x-a,x-b"}),
     (200, [("Access-Control-Allow-Origin", "https://any.example"), ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "DELETE"), ("Access-Control-Allow-Headers", "x-a,x-b"),
            ("Vary", "Origin")])),
    ("credentials-listed-origin", {"AllowOrigins": [SITE], "AllowCredentials": True, "MaxAge": 0}, "OPTIONS",
     preflight_headers(),
     (200, [("Access-Control-Allow-Origin", SITE), ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Max-Age", "0"), ("Vary", "Origin")])),
    ("lower-case-request-headers", CORS, "OPTIONS",
     {"origin": SITE, "access-control-request-method": "GET"},
     (200, [("Access-Control-Allow-Origin", SITE), ("Access-Control-Allow-Methods", "GET,POST"),
            ("Access-Control-Allow-Headers", "content-type,x-api-key"), ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin")])),
    ("no-cors-configured", None, "OPTIONS", preflight_headers(), None),
    ("empty-cors", {}, "OPTIONS", preflight_headers(), None),
    ("not-options", CORS, "POST", preflight_headers(), None),
    ("no-origin", CORS, "OPTIONS", preflight_headers(origin=None), None),
    ("no-request-method", CORS, "OPTIONS", {"Origin": SITE}, None),
]


@pytest.mark.parametrize("cors, method, headers, expected", [c[1:] for c in PREFLIGHT_CASES],
                         ids=[c[0] for c in PREFLIGHT_CASES])
def test_preflight(cors, method, headers, expected):
    assert preflight(cors, method, headers) == expected


CORS_HEADER_CASES = [
    ("allowed-origin", CORS, {"Origin": SITE},
     [("Access-Control-Allow-Origin", SITE), ("Access-Control-Expose-Headers", "x-request-id"), ("Vary", "Origin")]),
    ("lower-case-origin-header", CORS, {"origin": SITE},
     [("Access-Control-Allow-Origin", SITE), ("Access-Control-Expose-Headers", "x-request-id"), ("Vary", "Origin")]),
    ("refused-origin", CORS, {"Origin": "https://evil.example"}, []),
    ("no-origin", CORS, {"Host": "abc"}, []),
    ("no-cors", None, {"Origin": SITE}, []),
    ("wildcard", {"AllowOrigins": ["*"]}, {"Origin": SITE}, [("Access-Control-Allow-Origin", "*")]),
    ("wildcard-with-credentials", {"AllowOrigins": ["*"], "AllowCredentials": True}, {"Origin": SITE},
     [("Access-Control-Allow-Origin", SITE), ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]),
]


@pytest.mark.parametrize("cors, headers, expected", [c[1:] for c in CORS_HEADER_CASES],
                         ids=[c[0] for c in CORS_HEADER_CASES])
def test_cors_headers(cors, headers, expected):
    assert cors_headers(cors, headers) == expected


def test_validate_cors_accepts_a_full_configuration():
    value = {"AllowCredentials": True, "AllowHeaders": ["content-type"], "AllowMethods": ["get", "POST", "*"],
             "AllowOrigins": ["https://example.com", "http://localhost:3000", "*"], "ExposeHeaders": ["x-id"],
             "MaxAge": 86400}
    assert validate_cors(value) == {**value, "AllowMethods": ["GET", "POST", "*"]}
    assert validate_cors({}) == {}
    assert validate_cors({"MaxAge": None, "AllowOrigins": None}) == {}
    assert validate_cors({"AllowOrigins": ["*"] * 100}) == {"AllowOrigins": ["*"] * 100}


VALIDATE_ERRORS = [
    ("not-object", ["*"], "must be an object"),
    ("unknown-field", {"AllowOrigin": ["*"]}, "unknown fields: AllowOrigin"),
    ("credentials-string", {"AllowCredentials": "true"}, "AllowCredentials must be a boolean"),
    ("origins-string", {"AllowOrigins": "*"}, "AllowOrigins must be a list of strings"),
    ("headers-non-string", {"AllowHeaders": [1]}, "AllowHeaders must be a list of strings"),
    ("too-many-origins", {"AllowOrigins": ["*"] * 101}, "at most 100"),
    ("too-many-methods", {"AllowMethods": ["GET"] * 7}, "at most 6"),
    ("bad-method", {"AllowMethods": ["OPTIONS"]}, "'OPTIONS' is not valid"),
    ("origin-without-scheme", {"AllowOrigins": ["example.com"]}, "'example.com' is not valid"),
    ("origin-with-path", {"AllowOrigins": ["https://example.com/app"]}, "is not valid"),
    ("origin-too-long", {"AllowOrigins": ["https://" + "a" * 250]}, "1-253 characters"),
    ("empty-header", {"ExposeHeaders": [""]}, "1-1024 characters"),
    ("header-with-newline", {"AllowHeaders": ["x\r\nSet-Cookie: a=1"]}, "no control characters"),
    ("max-age-negative", {"MaxAge": -1}, "between 0 and 86400"),
    ("max-age-too-big", {"MaxAge": 86401}, "between 0 and 86400"),
    ("max-age-string", {"MaxAge": "60"}, "between 0 and 86400"),
    ("max-age-bool", {"MaxAge": True}, "between 0 and 86400"),
]


@pytest.mark.parametrize("value, message", [c[1:] for c in VALIDATE_ERRORS], ids=[c[0] for c in VALIDATE_ERRORS])
def test_validate_cors_errors(value, message):
    with pytest.raises(InvalidParameterValue) as caught:
        validate_cors(value)
    assert message in caught.value.message
    assert caught.value.status == 400


def test_a_listed_origin_is_echoed_even_when_a_wildcard_is_listed_too():
    cors = {"AllowOrigins": [SITE, "*"]}
    assert cors_headers(cors, {"Origin": SITE}) == [("Access-Control-Allow-Origin", SITE), ("Vary", "Origin")]
    assert cors_headers(cors, {"Origin": "https://other.example"}) == [("Access-Control-Allow-Origin", "*")]


@pytest.mark.parametrize("cors", [CORS, {"AllowOrigins": ["*"]}, {"AllowOrigins": ["*"], "AllowCredentials": True},
                                  {"AllowOrigins": [SITE]}, {"AllowOrigins": ["https://elsewhere.example"]}])
@pytest.mark.parametrize("origin", [SITE, SITE.upper(), "https://evil.example", "null"])
def test_a_preflight_and_the_response_after_it_allow_the_same_origin(cors, origin):
    """A browser compares both answers with its origin: they must never disagree."""
    _, answered = preflight(cors, "OPTIONS", preflight_headers(origin))
    decorated = cors_headers(cors, {"Origin": origin})
    allowed = [value for name, value in answered if name == "Access-Control-Allow-Origin"]
    assert allowed == [value for name, value in decorated if name == "Access-Control-Allow-Origin"]
    echoed = bool(allowed) and allowed != ["*"]  # an echoed origin varies with the request: caches must know
    assert (("Vary", "Origin") in answered) == echoed


def test_a_stored_configuration_answers_with_the_methods_upper_cased():
    stored = validate_cors({"AllowOrigins": [SITE], "AllowMethods": ["get", "post"]})
    assert preflight(stored, "OPTIONS", preflight_headers()) == (200, [
        ("Access-Control-Allow-Origin", SITE), ("Access-Control-Allow-Methods", "GET,POST"), ("Vary", "Origin")])
