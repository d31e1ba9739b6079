"""faas.security.sigv4 signs exactly as botocore's SigV4Auth does, and its pieces verify what boto3 sends."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from faas.security import sigv4

NOW = datetime.datetime(2024, 5, 17, 12, 34, 56, tzinfo=datetime.timezone.utc)
CREDS = sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = sigv4.Credentials("ASIAEXAMPLE", "c2VjcmV0", "FwoGZXIvYXdzEBYaDH//token+with/slashes==")


def botocore_sign(creds: sigv4.Credentials, method: str, url: str, headers: dict[str, str],
                  body: bytes, region: str = "us-east-1") -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    auth = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
        "lambda", region)
    auth.add_auth(request)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}


CASES = [
    ("GET", "http://127.0.0.1:9000/2015-03-31/functions", {}, b""),
    ("GET", "http://127.0.0.1:9000/2015-03-31/functions/?Marker=a%20b%2Bc%2Fd&MaxItems=5", {}, b""),
    ("GET", "http://localhost:9000/2015-03-31/functions?b=2&a=1&a=0&flag", {}, b""),
    ("POST", "http://127.0.0.1:9000/2015-03-31/functions/123456789012%3Afunction%3Ahello%3A%24LATEST"
             "/invocations", {"X-Amz-Log-Type": "Tail", "X-Amz-Invocation-Type": "RequestResponse"},
     b'{"name": "faas"}'),
    ("POST", "http://127.0.0.1:9000/2015-03-31/functions",
     {"Content-Type": "application/json", "User-Agent": "not signed/1.0"}, b'{"FunctionName": "f"}'),
    ("PUT", "https://faas.example.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000"
            "%3Afunction%3Af/configuration", {"Content-Type": "application/json"}, b'{"Timeout": 5}'),
    ("DELETE", "https://faas.example.com:8443/2015-03-31/functions/caf%C3%A9", {}, b""),
    ("GET", "http://127.0.0.1:9000/a/./b//c/../d/", {"X-Custom": "  spaced    value  "}, b""),
    ("GET", "http://127.0.0.1:9000/faas/v1/functions/hello/logs?limit=20", {}, b""),
    ("GET", "http://[::1]:9000/2015-03-31/functions", {}, b""),
]


@pytest.mark.parametrize("creds", [CREDS, SESSION], ids=["long-term", "session"])
@pytest.mark.parametrize("method,url,headers,body", CASES)
def test_sign_matches_botocore(creds, method, url, headers, body):
    expected = botocore_sign(creds, method, url, headers, body)
    now = datetime.datetime.strptime(expected["X-Amz-Date"], sigv4.AMZ_DATE_FORMAT).replace(
        tzinfo=datetime.timezone.utc)
    added = sigv4.sign(creds, "us-east-1", "lambda", method, url, headers, sigv4.payload_hash(body), now)
    assert added["Authorization"] == expected["Authorization"]
    assert added["X-Amz-Date"] == expected["X-Amz-Date"]
    assert added.get("X-Amz-Security-Token") == expected.get("X-Amz-Security-Token")
    # Lambda requests carry no X-Amz-Content-Sha256 header, and neither do ours.
    assert set(added) == {k for k in expected if k not in headers}


def test_sign_uses_the_given_time_and_region():
    added = sigv4.sign(CREDS, "eu-west-1", "lambda", "GET", "http://h/p", {}, sigv4.EMPTY_SHA256, NOW)
    assert added["X-Amz-Date"] == "20240517T123456Z"
    assert added["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/eu-west-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=")
    assert "X-Amz-Security-Token" not in added


def test_resigning_replaces_old_signature_headers():
    first = sigv4.sign(SESSION, "us-east-1", "lambda", "GET", "http://h/p", {}, sigv4.EMPTY_SHA256, NOW)
    later = NOW + datetime.timedelta(seconds=5)
    again = sigv4.sign(SESSION, "us-east-1", "lambda", "GET", "http://h/p", first, sigv4.EMPTY_SHA256, later)
    fresh = sigv4.sign(SESSION, "us-east-1", "lambda", "GET", "http://h/p", {}, sigv4.EMPTY_SHA256, later)
    assert again == fresh


def test_canonical_uri_encodes_the_encoded_path_once_more():
    assert sigv4.canonical_uri("/2015-03-31/functions/a%3Ab") == "/2015-03-31/functions/a%253Ab"
    assert sigv4.canonical_uri("") == "/"
    assert sigv4.canonical_uri("/x//y/./z/../") == "/x/y/"


def test_canonical_query_sorts_and_normalises_escapes():
    assert sigv4.canonical_query("b=2&a=%2f&a=1&c") == "a=%2F&a=1&b=2&c="
    assert sigv4.canonical_query("Marker=a b") == "Marker=a%20b"
    assert sigv4.canonical_query("") == ""


def test_canonical_headers_join_repeats_and_trim():
    headers = [("Host", "h"), ("X-A", " 1  2 "), ("x-a", "3")]
    assert sigv4.canonical_headers(headers, ["host", "x-a"]) == "host:h\nx-a:1 2,3\n"


def test_parse_authorization_round_trip():
    header = sigv4.sign(CREDS, "us-east-1", "lambda", "GET", "http://h/p", {"X-B": "1"},
                        sigv4.EMPTY_SHA256, NOW)["Authorization"]
    auth = sigv4.parse_authorization(header)
    assert (auth.access_key_id, auth.date, auth.region, auth.service) == (
        "AKIDEXAMPLE", "20240517", "us-east-1", "lambda")
    assert auth.signed_headers == ("host", "x-amz-date", "x-b")
    assert auth.scope == "20240517/us-east-1/lambda/aws4_request"


@pytest.mark.parametrize("header", [
    "", "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=a/20240101/r/lambda/aws4_request, Signature=00",
    "AWS4-HMAC-SHA256 garbage",
])
def test_parse_authorization_rejects_malformed(header):
    with pytest.raises(ValueError):
        sigv4.parse_authorization(header)


def test_signatures_match_is_exact():
    assert sigv4.signatures_match("abc", "abc")
    assert not sigv4.signatures_match("abc", "abd")
    assert not sigv4.signatures_match("abc", "ab\u00e9")


def test_signing_key_matches_aws_documentation_example():
    # From the AWS General Reference "Examples of how to derive a signing key for Signature Version 4".
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def _capture_boto3_requests(calls, session_token=None):
    """The requests boto3 puts on the wire for some Lambda calls (never sent)."""
    session = boto3.session.Session(aws_access_key_id="AKIDBOTO", aws_secret_access_key="s3cr3t/+key",
                                    aws_session_token=session_token, region_name="eu-central-1")
    client = session.client("lambda", endpoint_url="http://127.0.0.1:9000",
                            config=Config(retries={"max_attempts": 1}))
    captured = []

    class Sent(Exception):
        pass

    def capture(request, **_):
        captured.append(request)
        raise Sent

    client.meta.events.register("before-send.lambda", capture)
    for call in calls:
        with pytest.raises(Sent):
            call(client)
    return captured


@pytest.mark.parametrize("token", [None, "session-token"])
def test_pieces_verify_what_boto3_sends(token):
    """What a server does: rebuild the signature from the raw request and the parsed header."""
    requests = _capture_boto3_requests([
        lambda c: c.list_functions(Marker="a b+c/d", MaxItems=5),
        lambda c: c.get_function(FunctionName="arn:aws:lambda:eu-central-1:000000000000:function:f"),
        lambda c: c.invoke(FunctionName="000000000000:function:f:$LATEST", Payload=b'{"a": 1}', LogType="Tail"),
        lambda c: c.create_function(FunctionName="f", Runtime="python3.13", Handler="app.handler",
                                    Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": b"zip"}),
        lambda c: c.delete_function(FunctionName="f"),
    ], session_token=token)
    for request in requests:
        headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
        headers["Host"] = "127.0.0.1:9000"  # added by the HTTP client, signed by botocore
        auth = sigv4.parse_authorization(headers["Authorization"])
        url = urlsplit(request.url)
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        canonical = sigv4.canonical_request(request.method, url.path, url.query, headers,
                                            auth.signed_headers, sigv4.payload_hash(body))
        key = sigv4.signing_key("s3cr3t/+key", auth.date, auth.region, auth.service)
        expected = sigv4.signature(key, sigv4.string_to_sign(headers["X-Amz-Date"], auth.scope, canonical))
        assert sigv4.signatures_match(expected, auth.signature), request.url
        assert auth.region == "eu-central-1" and auth.service == "lambda"
        assert ("x-amz-security-token" in auth.signed_headers) == (token is not None)


def test_amz_date_is_parsed_strictly_and_as_utc() -> None:
    assert sigv4.parse_amz_date("20261202T013005Z") == datetime.datetime(2026, 12, 2, 1, 30, 5,
                                                                         tzinfo=datetime.timezone.utc)
    for bad in ("", "20261202T013005", "2026122T013005Z", "20261302T013005Z", "20261202T253005Z",
                "２０２６1202T013005Z", "20261202t013005z", " 20261202T013005Z"):
        with pytest.raises(ValueError):
            sigv4.parse_amz_date(bad)
