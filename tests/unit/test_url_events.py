"""Function URL events (faas.sources.url_events): request -> 2.0 event, result -> response."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json

import pytest

from faas.sources import url_events
from faas.sources.url_events import HttpRequest, Origin, build_event, origin, response_from_result

NOW = datetime.datetime(2026, 11, 27, 6, 58, 48, 123000, tzinfo=datetime.timezone.utc)
IAM = {"accessKey": "AKIDEXAMPLE", "accountId": "111122223333", "callerId": "AIDAEXAMPLE",
       "principalOrgId": None, "userArn": "arn:aws:iam::111122223333:user/alice", "userId": "AIDAEXAMPLE"}
TRACE = "Root=1-6927f6a8-0123456789abcdef01234567"
ORIGIN = Origin(source_ip="203.0.113.7", forwarded_for="203.0.113.7", proto="https", port=443, trace_id=TRACE)
# What the platform adds to every event's headers for ORIGIN.
PROXY = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-port": "443",
         "x-amzn-trace-id": TRACE}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


def request(**changes) -> HttpRequest:
    base = HttpRequest(
        method="GET", raw_path="/", raw_query="", headers=[("Host", "abc.lambda-url.us-east-1.on.faas")],
        body=b"", origin=ORIGIN, url_id="abc", domain_name="abc.lambda-url.us-east-1.on.faas",
        account_id="123456789012", request_id="req-1", now=NOW,
    )
    return dataclasses.replace(base, **changes)


# --- request -> event ----------------------------------------------------------------------------

def test_a_get_without_body_query_or_cookies():
    event = build_event(request(headers=[("Host", "abc.lambda-url.us-east-1.on.faas"), ("User-Agent", "curl/8")]))
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.us-east-1.on.faas", "user-agent": "curl/8", **PROXY},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.faas",
            "domainPrefix": "abc",
            "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "curl/8"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:06:58:48 +0000",
            "timeEpoch": 1795762728123,
        },
        "isBase64Encoded": False,
    }
    assert json.loads(json.dumps(event)) == event  # the event is plain JSON


BODY_CASES = [
    # content-type, body, expected event body, base64?
    ("application/json", b'{"a": 1}', '{"a": 1}', False),
    ("application/json; charset=utf-8", "{\"name\": \"Zoë\"}".encode(), "{\"name\": \"Zoë\"}", False),
    ("text/plain", b"hello", "hello", False),
    ("TEXT/HTML; charset=UTF-8", b"<p>hi</p>", "<p>hi</p>", False),
    ("application/x-www-form-urlencoded", b"a=1&b=2", "a=1&b=2", False),
    ("application/xml", b"<a/>", "<a/>", False),
    ("application/javascript", b"f()", "f()", False),
    ("application/vnd.api+json", b"{}", "{}", False),
    ("application/atom+xml", b"<feed/>", "<feed/>", False),
    ("image/png", PNG, base64.b64encode(PNG).decode(), True),
    ("application/octet-stream", b"abc", "YWJj", True),
    ("multipart/form-data; boundary=x", b"--x--", "LS14LS0=", True),
    ("text/plain", b"\xff\xfe not utf-8", base64.b64encode(b"\xff\xfe not utf-8").decode(), True),
    (None, b"no content type", base64.b64encode(b"no content type").decode(), True),
]


@pytest.mark.parametrize("content_type, body, expected, encoded", BODY_CASES,
                         ids=[f"{c}-{e}" for c, _, _, e in BODY_CASES])
def test_post_bodies_are_text_or_base64(content_type, body, expected, encoded):
    headers = [("Content-Type", content_type)] if content_type else []
    event = build_event(request(method="post", headers=headers, body=body))
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["body"] == expected
    assert event["isBase64Encoded"] is encoded
    if encoded:
        assert base64.b64decode(event["body"]) == body


QUERY_CASES = [
    # raw query, queryStringParameters (None: omitted)
    ("", None),
    ("a=1", {"a": "1"}),
    ("parameter1=value1&parameter1=value2&parameter2=value", {"parameter1": "value1,value2", "parameter2": "value"}),
    ("q=hello%20world&e=a%2Bb%40c.d", {"q": "hello world", "e": "a+b@c.d"}),
    ("q=two+words", {"q": "two words"}),
    ("na%C3%AFve=%E2%9C%93", {"naïve": "✓"}),
    ("flag&empty=", {"flag": "", "empty": ""}),
    ("&", None),
]


@pytest.mark.parametrize("raw_query, expected", QUERY_CASES)
def test_query_strings(raw_query, expected):
    event = build_event(request(raw_query=raw_query))
    assert event["rawQueryString"] == raw_query
    assert event.get("queryStringParameters") == expected
    assert ("queryStringParameters" in event) == (expected is not None)


def test_the_raw_path_keeps_its_encoding_and_http_path_is_decoded():
    event = build_event(request(raw_path="/my/path%20with/%E2%9C%93"))
    assert event["rawPath"] == "/my/path%20with/%E2%9C%93"
    assert event["requestContext"]["http"]["path"] == "/my/path with/✓"


def test_repeated_headers_are_joined_and_names_lower_cased():
    headers = [("X-Other", "1.1.1.1"), ("Accept", "text/html"), ("x-other", "2.2.2.2"),
               ("ACCEPT", "application/json")]
    event = build_event(request(headers=headers))
    assert event["headers"] == {"x-other": "1.1.1.1,2.2.2.2", "accept": "text/html,application/json", **PROXY}
    assert event["requestContext"]["http"]["userAgent"] == ""


def test_cookies_come_out_of_the_headers():
    headers = [("Cookie", "a=1; b=2"), ("Accept", "*/*"), ("cookie", "c=3;d=4; ")]
    event = build_event(request(headers=headers))
    assert event["cookies"] == ["a=1", "b=2", "c=3", "d=4"]
    assert event["headers"] == {"accept": "*/*", **PROXY}


def test_no_cookie_header_means_no_cookies_field():
    assert "cookies" not in build_event(request())


# --- where the request came from: sourceIp and the proxy headers ---------------------------------------

FRESH = "Root=1-6927f6a8-fedcba9876543210fedcba98"
PROXIES = url_events.trusted_networks(("127.0.0.5/32", "10.0.0.0/8", "fd00::/8"))

ORIGIN_CASES = [
    # id, peer, scheme, port, headers sent, expected (sourceIp, x-forwarded-for, proto, port)
    ("direct", "198.51.100.9", "http", 9000, [], ("198.51.100.9", "198.51.100.9", "http", 9000)),
    ("direct-tls", "198.51.100.9", "https", 9443, [], ("198.51.100.9", "198.51.100.9", "https", 9443)),
    ("untrusted-spoof", "198.51.100.9", "http", 9000,
     [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "443")],
     ("198.51.100.9", "198.51.100.9", "http", 9000)),
    ("trusted-proxy", "127.0.0.5", "http", 9000,
     [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "8443")],
     ("203.0.113.7", "203.0.113.7", "https", 8443)),
    ("trusted-proto-without-port", "127.0.0.5", "http", 9000, [("X-Forwarded-Proto", "HTTPS")],
     ("127.0.0.5", "127.0.0.5", "https", 443)),
    ("trusted-without-headers", "127.0.0.5", "http", 9000, [], ("127.0.0.5", "127.0.0.5", "http", 9000)),
    ("client-claims-kept-left", "127.0.0.5", "http", 9000, [("X-Forwarded-For", "9.9.9.9, 203.0.113.7")],
     ("203.0.113.7", "9.9.9.9, 203.0.113.7", "http", 9000)),
    ("trusted-hops-skipped", "127.0.0.5", "http", 9000,
     [("X-Forwarded-For", "203.0.113.7, 10.1.2.3"), ("x-forwarded-for", "10.4.5.6")],
     ("203.0.113.7", "203.0.113.7", "http", 9000)),
    ("garbage-stops-the-walk", "127.0.0.5", "http", 9000, [("X-Forwarded-For", "203.0.113.7, nonsense")],
     ("127.0.0.5", "127.0.0.5", "http", 9000)),
    ("only-trusted-hops", "127.0.0.5", "http", 9000, [("X-Forwarded-For", "10.0.0.1")],
     ("10.0.0.1", "10.0.0.1", "http", 9000)),
    ("bad-proto-and-port-ignored", "127.0.0.5", "http", 9000,
     [("X-Forwarded-Proto", "gopher"), ("X-Forwarded-Port", "99999")], ("127.0.0.5", "127.0.0.5", "http", 9000)),
    ("ipv4-mapped-peer", "::ffff:127.0.0.5", "http", 9000, [("X-Forwarded-For", "203.0.113.7")],
     ("203.0.113.7", "203.0.113.7", "http", 9000)),
    ("ipv6-proxy", "fd00::1", "http", 9000, [("X-Forwarded-For", "2001:db8::7")],
     ("2001:db8::7", "2001:db8::7", "http", 9000)),
]


@pytest.mark.parametrize("peer, scheme, port, headers, expected", [c[1:] for c in ORIGIN_CASES],
                         ids=[c[0] for c in ORIGIN_CASES])
def test_the_origin_believes_forwarded_headers_only_from_a_trusted_proxy(peer, scheme, port, headers, expected):
    found = origin(headers, peer=peer, scheme=scheme, port=port, trusted=PROXIES, new_trace_id=FRESH)
    assert (found.source_ip, found.forwarded_for, found.proto, found.port) == expected
    assert found.forwarded_for.split(", ")[-1] == found.source_ip  # as on AWS: the last hop is the client


def test_without_trusted_proxies_nobody_is_believed():
    headers = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
    found = origin(headers, peer="127.0.0.5", scheme="http", port=9000, trusted=(), new_trace_id=FRESH)
    assert (found.source_ip, found.forwarded_for, found.proto, found.port) == ("127.0.0.5", "127.0.0.5", "http", 9000)


@pytest.mark.parametrize("sent, kept", [
    (TRACE, True),
    (TRACE + ";Parent=53995c3f42cd8ad8;Sampled=1", True),
    ("Root=1-6927f6a8-0123", False),
    ("Root=1-6927F6A8-0123456789abcdef01234567", False),
    ("nonsense", False),
    (TRACE + ";Parent=" + "a" * 300, False),
])
def test_a_callers_well_formed_trace_id_is_kept_else_a_new_one(sent, kept):
    found = origin([("X-Amzn-Trace-Id", sent)], peer="198.51.100.9", scheme="http", port=80, trusted=(),
                   new_trace_id=FRESH)
    assert found.trace_id == (sent if kept else FRESH)
    assert origin([], peer="198.51.100.9", scheme="http", port=80, trusted=(), new_trace_id=FRESH).trace_id == FRESH


def test_a_trace_root_has_the_epoch_and_96_random_bits():
    assert url_events.trace_root(1764536400, bytes(range(12))) == "Root=1-692cb050-000102030405060708090a0b"


def test_the_callers_proxy_headers_are_replaced_in_the_event():
    sent = [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "1"),
            ("X-Amzn-Trace-Id", "forged"), ("Accept", "*/*")]
    event = build_event(request(headers=sent))
    assert event["headers"] == {"accept": "*/*", **PROXY}
    assert event["requestContext"]["http"]["sourceIp"] == "203.0.113.7"


def test_the_iam_authorizer_is_passed_and_copied():
    event = build_event(request(authorizer_iam=IAM))
    assert event["requestContext"]["authorizer"] == {"iam": IAM}
    assert event["requestContext"]["authorizer"]["iam"] is not IAM
    assert "authorizer" not in build_event(request())["requestContext"]


SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/lambda/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature=abc123")
TOKEN = "faas_0123456789abcdefghijklmnopqrstuvwxyzABCDE"


def test_a_signed_requests_credentials_never_reach_the_function():
    headers = [("Authorization", SIGV4), ("X-Amz-Date", "20261127T065848Z"), ("X-Amz-Security-Token", "session"),
               ("x-amz-security-token", "again"), ("X-Other", "kept")]
    event = build_event(request(headers=headers, authorizer_iam=IAM))
    assert event["headers"] == {"x-amz-date": "20261127T065848Z", "x-other": "kept", **PROXY}
    assert event["requestContext"]["authorizer"] == {"iam": IAM}  # who called, in its own field
    for value in ("Bearer " + TOKEN, "Basic dXNlcjpwdw==", "anything at all"):  # AWS_IAM: always the platform's
        event = build_event(request(headers=[("authorization", value)], authorizer_iam=IAM))
        assert "authorization" not in event["headers"]


@pytest.mark.parametrize("value, kept", [
    (SIGV4, False),
    ("  aws4-hmac-sha256 Credential=x", False),
    ("Bearer " + TOKEN, False),
    ("bearer   " + TOKEN, False),
    ("Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig", True),  # the function's own tokens are its business
    ("Basic dXNlcjpwdw==", True),
    ("", True),
])
def test_an_open_url_drops_only_the_platforms_credentials(value, kept):
    event = build_event(request(headers=[("Authorization", value), ("X-Amz-Security-Token", "session")]))
    assert ("authorization" in event["headers"]) is kept
    assert "x-amz-security-token" not in event["headers"]


def test_the_iam_authorizer_has_lambdas_fields():
    iam = url_events.authorizer_iam(access_key="AKIDEXAMPLE", account_id="123456789012",
                                    user_arn="arn:aws:iam::123456789012:user/alice", user_id="alice")
    assert iam == {"accessKey": "AKIDEXAMPLE", "accountId": "123456789012", "callerId": "alice",
                   "cognitoIdentity": None, "principalOrgId": None,
                   "userArn": "arn:aws:iam::123456789012:user/alice", "userId": "alice"}
    assert url_events.authorizer_iam(access_key=None, account_id="1", user_arn="a", user_id="u")["accessKey"] is None


def test_a_url_needs_both_permissions_for_either_auth_type():
    for auth_type in ("NONE", "AWS_IAM"):
        assert url_events.URL_PERMISSIONS[auth_type] == (
            ("lambda:InvokeFunctionUrl", {"lambda:FunctionUrlAuthType": auth_type}),
            ("lambda:InvokeFunction", {"lambda:InvokedViaFunctionUrl": "true"}),
        )


TIME_CASES = [
    # now, time, timeEpoch
    (datetime.datetime(2026, 11, 27, 6, 58, 48, tzinfo=datetime.timezone.utc),
     "27/Nov/2026:06:58:48 +0000", 1795762728000),
    (datetime.datetime(2026, 1, 2, 3, 4, 5, 999999),  # naive is taken as UTC; milliseconds are truncated
     "02/Jan/2026:03:04:05 +0000", 1767323045999),
    (datetime.datetime(2026, 3, 1, 1, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     "28/Feb/2026:23:30:00 +0000", 1772321400000),
    (NOW, "27/Nov/2026:06:58:48 +0000", 1795762728123),
]


@pytest.mark.parametrize("when, text, epoch_ms", TIME_CASES)
def test_the_time_is_utc_in_clf_format_and_epoch_milliseconds(when, text, epoch_ms):
    context = build_event(request(now=when))["requestContext"]
    assert context["time"] == text
    assert context["timeEpoch"] == epoch_ms


# --- result -> response --------------------------------------------------------------------------

JSON_TYPE = ("Content-Type", "application/json")
BAD_GATEWAY = (502, [("Content-Type", "text/plain; charset=utf-8")], b"Internal Server Error")

RESPONSE_CASES = [
    # id, payload, function error, expected (status, headers, body)
    ("object-without-statusCode", b'{"message": "Hello, world!"}', None,
     (200, [JSON_TYPE], b'{"message": "Hello, world!"}')),
    ("string", b'"Hello, world!"', None, (200, [JSON_TYPE], b'"Hello, world!"')),
    ("number", b"42", None, (200, [JSON_TYPE], b"42")),
    ("null", b"null", None, (200, [JSON_TYPE], b"null")),
    ("list", b"[1, 2]", None, (200, [JSON_TYPE], b"[1, 2]")),
    ("statusCode-only", b'{"statusCode": 204}', None, (204, [JSON_TYPE], b"")),
    ("statusCode-headers-body", json.dumps({
        "statusCode": 201, "headers": {"Content-Type": "text/plain", "My-Custom-Header": "Custom Value"},
        "body": "created"}).encode(), None,
     (201, [("Content-Type", "text/plain"), ("My-Custom-Header", "Custom Value")], b"created")),
    ("header-values-stringified", json.dumps({
        "statusCode": 200, "headers": {"x-count": 3, "x-ok": True, "x-ratio": 1.5, "x-none": None},
        "body": "{}"}).encode(), None,
     (200, [("x-count", "3"), ("x-ok", "true"), ("x-ratio", "1.5"), JSON_TYPE], b"{}")),
    ("cookies", json.dumps({
        "statusCode": 200, "cookies": ["a=1; Max-Age=60", "b=2; HttpOnly"], "body": "ok"}).encode(), None,
     (200, [JSON_TYPE, ("Set-Cookie", "a=1; Max-Age=60"), ("Set-Cookie", "b=2; HttpOnly")], b"ok")),
    ("base64-body", json.dumps({
        "statusCode": 200, "headers": {"content-type": "image/png"},
        "body": base64.b64encode(PNG).decode(), "isBase64Encoded": True}).encode(), None,
     (200, [("content-type", "image/png")], PNG)),
    ("base64-flag-false", json.dumps({"statusCode": 200, "body": "YWJj", "isBase64Encoded": False}).encode(), None,
     (200, [JSON_TYPE], b"YWJj")),
    ("utf8-body", json.dumps({"statusCode": 200, "body": "Zoë ✓"}).encode(), None,
     (200, [JSON_TYPE], "Zoë ✓".encode())),
    ("object-body-as-json", json.dumps({"statusCode": 200, "body": {"a": 1}}).encode(), None,
     (200, [JSON_TYPE], b'{"a": 1}')),
    ("function-error", json.dumps({"errorMessage": "boom /secret/path", "errorType": "ValueError",
                                   "stackTrace": ["line 1"]}).encode(), "Unhandled", BAD_GATEWAY),
    ("function-error-even-with-statusCode", b'{"statusCode": 200, "body": "ok"}', "Handled", BAD_GATEWAY),
    ("invalid-json", b"{not json", None, BAD_GATEWAY),
    ("empty-payload", b"", None, BAD_GATEWAY),
    ("not-utf8", b'"\xff"', None, BAD_GATEWAY),
    ("statusCode-string", b'{"statusCode": "200"}', None, BAD_GATEWAY),
    ("statusCode-float", b'{"statusCode": 200.5}', None, BAD_GATEWAY),
    ("statusCode-bool", b'{"statusCode": true}', None, BAD_GATEWAY),
    ("statusCode-null", b'{"statusCode": null}', None, BAD_GATEWAY),
    ("statusCode-99", b'{"statusCode": 99}', None, BAD_GATEWAY),
    ("statusCode-600", b'{"statusCode": 600}', None, BAD_GATEWAY),
    ("headers-not-object", b'{"statusCode": 200, "headers": ["a"]}', None, BAD_GATEWAY),
    ("header-value-object", b'{"statusCode": 200, "headers": {"a": {"b": 1}}}', None, BAD_GATEWAY),
    ("header-injection", b'{"statusCode": 200, "headers": {"a": "x\\r\\nSet-Cookie: evil=1"}}', None, BAD_GATEWAY),
    ("header-name-with-space", b'{"statusCode": 200, "headers": {"a b": "x"}}', None, BAD_GATEWAY),
    ("cookies-not-list", b'{"statusCode": 200, "cookies": "a=1"}', None, BAD_GATEWAY),
    ("cookie-not-string", b'{"statusCode": 200, "cookies": [1]}', None, BAD_GATEWAY),
    ("bad-base64", b'{"statusCode": 200, "body": "not base64!", "isBase64Encoded": true}', None, BAD_GATEWAY),
    # the platform frames the response: a function's framing and connection headers are dropped
    ("framing-headers-dropped", json.dumps({
        "statusCode": 200, "body": "hello", "headers": {
            "Transfer-Encoding": "chunked", "content-length": "2", "Connection": "close", "Keep-Alive": "timeout=1",
            "Upgrade": "websocket", "TE": "trailers", "Trailer": "X-Sum", "Proxy-Connection": "keep-alive",
            "X-Kept": "yes", "Content-Type": "text/plain"}}).encode(), None,
     (200, [("X-Kept", "yes"), ("Content-Type", "text/plain")], b"hello")),
    ("statusCode-100", b'{"statusCode": 100}', None, BAD_GATEWAY),  # 1xx is never a final response
    ("statusCode-101", b'{"statusCode": 101, "headers": {"Upgrade": "h2c"}}', None, BAD_GATEWAY),
    ("statusCode-103", b'{"statusCode": 103}', None, BAD_GATEWAY),
    ("statusCode-199", b'{"statusCode": 199}', None, BAD_GATEWAY),
    ("statusCode-200", b'{"statusCode": 200}', None, (200, [JSON_TYPE], b"")),
]


@pytest.mark.parametrize("payload, function_error, expected", [c[1:] for c in RESPONSE_CASES],
                         ids=[c[0] for c in RESPONSE_CASES])
def test_response_from_result(payload, function_error, expected):
    assert response_from_result(payload, function_error) == expected


def test_a_502_never_carries_the_functions_error():
    status, headers, body = response_from_result(b'{"errorMessage": "db password is hunter2"}', "Unhandled")
    assert status == 502 and body == b"Internal Server Error"
    assert all("hunter2" not in value and "Unhandled" not in value for _, value in headers)
    assert url_events.bad_gateway() == BAD_GATEWAY
    headers.append(("Vary", "Origin"))  # callers add CORS headers; the next 502 must not carry them
    assert response_from_result(b"", None) == BAD_GATEWAY
