"""Presigned URLs end to end: what boto3's generate_presigned_url and botocore's SigV4QueryAuth produce,
fetched with plain HTTP against a real `faas serve`, for the API and for an AWS_IAM function URL; and
the attacks on them (expiry, another path, another query value, another body, two credentials at once)
refused in the API's error format with nothing stored changed."""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from faas.security import sigv4
from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_urls_e2e import Url

pytestmark = pytest.mark.docker

APP = '''
import json, os

def handler(event, context):
    if event.get("leak"):  # the environment's role-session credentials, for the session test
        return [os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
    if "rawPath" in event:
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
    return {"got": event}
'''


def fetch(url: str, method: str = "GET", body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request with no credentials but the URL's own."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def refused(answer: tuple[int, dict[str, str], bytes], code: str = "InvalidSignatureException",
            status: int = 403) -> str:
    """The refusal's message, after checking it is in the API's error format."""
    got, headers, body = answer
    assert got == status, (got, body[:500])
    assert headers.get("x-amzn-ErrorType") == code, headers
    return json.loads(body)["message"]


def deploy(lam) -> str:  # type: ignore[no-untyped-def]
    name = unique("presign")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": APP})})
    return name


@pytest.fixture(scope="module")
def functions(lam) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return deploy(lam), deploy(lam)


def test_a_presigned_get_function_works_with_plain_http(lam: Any, functions: tuple[str, str]) -> None:
    name, _ = functions
    url = lam.generate_presigned_url("get_function", Params={"FunctionName": name}, ExpiresIn=60)
    status, _, body = fetch(url)
    assert status == 200, body[:500]
    assert json.loads(body)["Configuration"]["FunctionName"] == name


def test_a_presigned_url_cannot_be_replayed_against_another_path(lam: Any, functions: tuple[str, str]) -> None:
    name, other = functions
    url = lam.generate_presigned_url("delete_function", Params={"FunctionName": name}, ExpiresIn=60)
    assert "does not match" in refused(fetch(url.replace(f"/functions/{name}", f"/functions/{other}"), "DELETE"))
    # a GET of the same path is another request too
    refused(fetch(url, "GET"))
    assert lam.get_function(FunctionName=other)["Configuration"]["FunctionName"] == other
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_a_presigned_url_cannot_be_given_another_query_value(lam: Any, functions: tuple[str, str]) -> None:
    url = lam.generate_presigned_url("list_functions", Params={"MaxItems": 1}, ExpiresIn=60)
    status, _, body = fetch(url)
    assert status == 200 and len(json.loads(body)["Functions"]) == 1, body[:500]
    refused(fetch(url.replace("MaxItems=1", "MaxItems=50")))
    refused(fetch(url.replace("X-Amz-Expires=60", "X-Amz-Expires=604800")))


def test_an_expired_presigned_url_is_refused(lam: Any, functions: tuple[str, str]) -> None:
    name, _ = functions
    url = lam.generate_presigned_url("get_function", Params={"FunctionName": name}, ExpiresIn=1)
    stamp = dict(parse_qsl(urlsplit(url).query))["X-Amz-Date"]
    signed_at = datetime.datetime.strptime(stamp, sigv4.AMZ_DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
    # Valid through signed_at + 1 s; the second after that it has expired, whatever the server's rounding.
    expired_at = signed_at.timestamp() + 2
    deadline = time.monotonic() + 10
    while time.time() < expired_at:
        assert time.monotonic() < deadline, "the clock did not reach the expiry"
        time.sleep(0.05)
    assert "Request has expired" in refused(fetch(url))
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_a_presigned_invoke_binds_its_empty_body(lam: Any, functions: tuple[str, str]) -> None:
    name, _ = functions
    # botocore moves an operation's body into the query when it presigns: the signed body is empty.
    url = lam.generate_presigned_url("invoke", Params={"FunctionName": name}, ExpiresIn=60)
    status, _, body = fetch(url, "POST", b"")
    assert status == 200, body[:500]
    assert json.loads(body) == {"got": {}}
    refused(fetch(url, "POST", b'{"smuggled": true}', {"Content-Type": "application/json"}))


def test_an_authorization_header_next_to_a_presigned_query_is_refused(server: Server, lam: Any,
                                                                       functions: tuple[str, str]) -> None:
    name, _ = functions
    url = lam.generate_presigned_url("get_function", Params={"FunctionName": name}, ExpiresIn=60)
    path = url[len(server.endpoint):]
    status, headers, body = server.request("GET", path)  # also signed in the headers, as the admin
    assert "Only one authentication mechanism" in refused((status, headers, body), "IncompleteSignatureException",
                                                          400)


def test_session_credentials_need_their_token_in_the_signed_query(server: Server, lam: Any,
                                                                 functions: tuple[str, str]) -> None:
    name, _ = functions
    key, secret, token = json.loads(lam.invoke(FunctionName=name, Payload=b'{"leak": true}')["Payload"].read())
    session = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key,
                           aws_secret_access_key=secret, aws_session_token=token)
    url = session.generate_presigned_url("get_function", Params={"FunctionName": name}, ExpiresIn=60)
    assert "X-Amz-Security-Token=" in url
    status, headers, body = fetch(url)
    # the session is recognised (its role may or may not be allowed GetFunction: that is authorisation)
    assert status == 200 or headers.get("x-amzn-ErrorType") == "AccessDeniedException", (status, body[:500])
    query = dict(parse_qsl(urlsplit(url).query))
    without = url.replace("&X-Amz-Security-Token=" + urlsplit(url).query.split("X-Amz-Security-Token=")[1]
                          .split("&")[0], "")
    assert "X-Amz-Security-Token" not in without
    refused(fetch(without), "UnrecognizedClientException")
    # a token sent as a header, outside the signature, does not stand in for the query's
    refused(fetch(without, headers={"X-Amz-Security-Token": query["X-Amz-Security-Token"]}),
            "UnrecognizedClientException")


def presign(server: Server, url: str, expires: int = 60) -> str:
    """botocore's SigV4QueryAuth over a function URL (service lambda), with the admin's key."""
    creds = server.credentials()
    request = AWSRequest(method="GET", url=url)
    botocore.auth.SigV4QueryAuth(botocore.credentials.Credentials(creds.access_key_id, creds.secret_access_key),
                                 "lambda", "us-east-1", expires=expires).add_auth(request)
    return request.url


def test_an_aws_iam_function_url_takes_a_presigned_get(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])

    # path-style, fetched with urllib
    signed = presign(server, f"{server.endpoint}/lambda-url/{url.url_id}/echo?x=1&y=a%20b")
    status, _, body = fetch(signed)
    assert status == 200, body[:500]
    event = json.loads(body)
    assert event["rawQueryString"] == "x=1&y=a%20b"
    assert event["queryStringParameters"] == {"x": "1", "y": "a b"}
    assert "X-Amz" not in body.decode() and "x-amz-signature" not in body.decode().lower()
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == server.credentials().access_key_id

    # host-style, signed over the URL's own host
    signed = presign(server, f"http://{url.host}/echo?x=2")
    status, _, body = url.call("host", "GET", signed[len(f"http://{url.host}"):])
    assert status == 200, body[:500]
    assert json.loads(body)["queryStringParameters"] == {"x": "2"}

    # another path, another query value, and no signature at all are refused as Lambda refuses URL requests
    for attempt in (signed.replace("/echo?", "/other?"), signed.replace("x=2", "x=3"),
                    signed.split("&X-Amz-Signature=")[0]):
        status, headers, body = url.call("host", "GET", attempt[len(f"http://{url.host}"):])
        assert status == 403 and json.loads(body)["Message"].startswith("Forbidden"), (status, body[:500])
    assert lam.get_function_url_config(FunctionName=name)["AuthType"] == "AWS_IAM"
