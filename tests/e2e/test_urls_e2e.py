"""Function URLs end to end: their configuration through boto3, and plain HTTP requests to them, host-style
(`<url-id>.lambda-url.localhost:<port>`) and path-style (`/lambda-url/<url-id>/...`), as browsers and
webhooks send them."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import sqlite3
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from botocore.exceptions import ClientError

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
URL_RE = re.compile(r"http://([a-z0-9]{32})\.lambda-url\.localhost:(\d+)/")
SECRET = "secret-detail-4711"
SMUGGLED = "0\r\n\r\nHTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 0\r\n\r\n"
CORS = {"AllowOrigins": ["https://good.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-custom"],
        "ExposeHeaders": ["x-custom"], "MaxAge": 300}

APP = f'''
import base64, hashlib, json

def handler(event, context):
    path = event["rawPath"]
    print("hit " + context.aws_request_id + " " + path)
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    if path.startswith("/custom"):
        return {{"statusCode": 418, "headers": {{"X-Custom": "yes", "Content-Type": "text/plain"}},
                "cookies": ["s=1; Path=/", "t=2; HttpOnly"], "body": "short and stout"}}
    if path.startswith("/plain"):
        return {{"hello": "world", "n": 1}}
    if path.startswith("/raise"):
        raise ValueError({SECRET!r})
    if path.startswith("/frame"):
        # framing headers of its own, and a body that would be a second response to a confused parser
        return {{"statusCode": 200, "headers": {{
            "Transfer-Encoding": "chunked", "Content-Length": "2", "Connection": "close", "Keep-Alive": "timeout=1",
            "Upgrade": "h2c", "TE": "trailers", "Trailer": "X-Sum", "Content-Type": "text/plain", "X-Kept": "yes"}},
            "body": {SMUGGLED!r}}}
    if path.startswith("/switch"):
        return {{"statusCode": 101, "headers": {{"Upgrade": "websocket", "Connection": "Upgrade"}}}}
    if path.startswith("/binary"):
        return {{"statusCode": 200, "headers": {{"Content-Type": "application/octet-stream"}},
                "isBase64Encoded": True, "body": base64.b64encode(raw).decode()}}
    return {{"statusCode": 200, "headers": {{"Content-Type": "application/json"}},
            "body": json.dumps({{"event": event, "sha256": hashlib.sha256(raw).hexdigest(), "length": len(raw)}})}}
'''


def deploy(lam) -> str:  # type: ignore[no-untyped-def]
    name = unique("url")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": APP})})
    return name


def allow_public(lam, name: str) -> None:  # type: ignore[no-untyped-def]
    """The two statements a NONE URL needs before it answers anyone (what `faas url create` and the AWS
    console add)."""
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowPublicAccess", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowInvokeAction", Principal="*",
                       Action="lambda:InvokeFunction", InvokedViaFunctionUrl=True)


def public_url(server: Server, lam, name: str, **config: Any) -> Url:  # type: ignore[no-untyped-def]
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="NONE", **config)["FunctionUrl"])
    allow_public(lam, name)
    return url


class Url:
    """One function URL, called either host-style or path-style, with headers kept as a list."""

    def __init__(self, server: Server, function_url: str) -> None:
        match = URL_RE.fullmatch(function_url)
        assert match, function_url
        self.server = server
        self.url_id = match[1]
        self.host = urlsplit(function_url).netloc

    def call(self, style: str, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None,
             source_ip: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        endpoint = urlsplit(self.server.endpoint)
        headers = dict(headers or {})
        if style == "host":
            headers["Host"] = self.host
            target = path
        else:
            target = f"/lambda-url/{self.url_id}{path}"
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60,
                                                source_address=(source_ip, 0) if source_ip else None)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def echo(self, style: str, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> dict:
        status, _, data = self.call(style, method, path, body, headers)
        assert status == 200, (status, data[:500])
        return json.loads(data)


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def all_headers(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


def runs(server: Server, name: str) -> list[dict]:
    return server.get_json(f"/faas/v1/functions/{name}/logs?limit=100")["Invocations"]


@pytest.fixture(scope="module")
def open_url(server: Server, lam) -> tuple[str, Url]:  # type: ignore[no-untyped-def]
    name = deploy(lam)
    return name, public_url(server, lam, name, Cors=CORS)


STYLES = pytest.mark.parametrize("style", ["host", "path"])


def test_url_config_create_get_update_list_delete(server: Server, lam: Any) -> None:
    name = deploy(lam)
    port = urlsplit(server.endpoint).port
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors={
        "AllowOrigins": ["https://app.example"], "AllowMethods": ["get", "POST"], "MaxAge": 60})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    match = URL_RE.fullmatch(created["FunctionUrl"])
    assert match and int(match[2]) == port, created["FunctionUrl"]
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert created["AuthType"] == "NONE"
    assert created["Cors"] == {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 60}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", created["CreationTime"])

    got = lam.get_function_url_config(FunctionName=name)
    assert {k: got[k] for k in ("FunctionUrl", "FunctionArn", "AuthType", "Cors", "CreationTime")} == \
        {k: created[k] for k in ("FunctionUrl", "FunctionArn", "AuthType", "Cors", "CreationTime")}
    assert "LastModifiedTime" in got

    with pytest.raises(ClientError) as twice:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert twice.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert twice.value.response["Error"]["Code"] == "ResourceConflictException"

    time.sleep(0.01)
    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert updated["FunctionUrl"] == created["FunctionUrl"]  # the URL never changes
    assert updated["AuthType"] == "AWS_IAM"
    assert updated["Cors"] == created["Cors"]  # untouched by an update that does not name it
    assert updated["CreationTime"] == created["CreationTime"]
    updated = lam.update_function_url_config(FunctionName=name, Cors={"AllowOrigins": ["*"]})
    assert updated["Cors"] == {"AllowOrigins": ["*"]} and updated["AuthType"] == "AWS_IAM"

    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]

    bad_requests = [
        {"AuthType": "BASIC"},
        {"AuthType": None},
        {"AuthType": "NONE", "Cors": {"AllowMethods": ["FETCH"]}},
        {"AuthType": "NONE", "Cors": {"MaxAge": -1}},
        {"AuthType": "NONE", "Cors": {"MaxAge": 86401}},
        {"AuthType": "NONE", "Cors": {"AllowOrigins": "https://not-a-list.example"}},
        {"AuthType": "NONE", "Cors": {"AllowOrigins": ["not an origin"]}},
        {"AuthType": "NONE", "Cors": {"AllowCredentials": "yes"}},
    ]
    other = deploy(lam)
    for params in bad_requests:
        with pytest.raises(ClientError) as refused:
            lam.create_function_url_config(FunctionName=other, **{k: v for k, v in params.items() if v is not None})
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, params
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException", params
        if "Cors" in params:
            with pytest.raises(ClientError) as refused:
                lam.update_function_url_config(FunctionName=name, Cors=params["Cors"])
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, params
    # a field the Cors shape does not have (boto3 cannot even send it)
    status, _, body = server.request("POST", f"/2021-10-31/functions/{other}/url", json.dumps(
        {"AuthType": "NONE", "Cors": {"AllowOrigins": ["*"], "AllowMethod": ["GET"]}}).encode(),
        {"Content-Type": "application/json"})
    assert status == 400, body
    assert lam.list_function_url_configs(FunctionName=other)["FunctionUrlConfigs"] == []
    assert lam.get_function_url_config(FunctionName=name)["Cors"] == {"AllowOrigins": ["*"]}

    ghost = unique("no-such-function")
    for call, params in ((lam.create_function_url_config, {"AuthType": "NONE"}),
                         (lam.get_function_url_config, {}),
                         (lam.update_function_url_config, {"AuthType": "NONE"}),
                         (lam.delete_function_url_config, {})):
        with pytest.raises(ClientError) as unknown:
            call(FunctionName=ghost, **params)
        assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, call
        assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException", call

    url = Url(server, created["FunctionUrl"])
    deleted = lam.delete_function_url_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    with pytest.raises(ClientError) as gone:
        lam.get_function_url_config(FunctionName=name)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    for style in ("host", "path"):
        assert url.call(style, "GET", "/")[0] == 404


def test_list_url_configs_of_an_unknown_function_is_404(lam: Any) -> None:
    with pytest.raises(ClientError) as unknown:
        lam.list_function_url_configs(FunctionName=unique("no-such-function"))
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


@STYLES
def test_get_with_a_query_string_becomes_a_payload_2_event(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    result = url.echo(style, "GET", "/echo/deeper?a=1&a=2&b=x%20y",
                      headers={"X-Custom": "v", "User-Agent": "faas-test/1.0"})
    event = result["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/echo/deeper"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["headers"]["x-custom"] == "v"
    assert all(k == k.lower() for k in event["headers"])
    assert event["isBase64Encoded"] is False and "body" not in event
    assert "cookies" not in event
    context = event["requestContext"]
    assert context["accountId"] == ACCOUNT
    assert context["apiId"] == url.url_id and context["domainPrefix"] == url.url_id
    assert context["http"]["method"] == "GET"
    assert context["http"]["path"] == "/echo/deeper"
    assert context["http"]["protocol"] == "HTTP/1.1"
    assert context["http"]["userAgent"] == "faas-test/1.0"
    assert context["http"]["sourceIp"]
    assert context["routeKey"] == "$default" and context["stage"] == "$default"
    assert re.fullmatch(r"[0-9a-f-]{36}", context["requestId"])
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["time"])
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    if style == "host":
        assert context["domainName"] == url.host


@pytest.mark.parametrize("style", ["host", "path"])
def test_raw_path_keeps_its_percent_encoding(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    context_and_path = url.echo(style, "GET", "/echo/a%20b/c%2Fd")["event"]
    assert context_and_path["rawPath"] == "/echo/a%20b/c%2Fd"
    assert context_and_path["requestContext"]["http"]["path"] == "/echo/a b/c/d"


@STYLES
def test_raw_query_string_is_the_query_as_received(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    event = url.echo(style, "GET", "/echo?a=1&a=2&b=x%20y&c=%26%3D")["event"]
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y&c=%26%3D"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "c": "&="}


@STYLES
def test_post_json_and_text_arrive_as_text(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    document = json.dumps({"k": [1, 2], "s": "é"}).encode()
    event = url.echo(style, "POST", "/json", document, {"Content-Type": "application/json"})["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"k": [1, 2], "s": "é"}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["content-type"] == "application/json"

    text = "héllo wörld ✓\nline two"
    event = url.echo(style, "POST", "/text", text.encode(), {"Content-Type": "text/plain; charset=utf-8"})["event"]
    assert event["isBase64Encoded"] is False and event["body"] == text


@STYLES
def test_binary_body_is_base64_and_comes_back_exactly(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    data = os.urandom(64 * 1024)
    result = url.echo(style, "POST", "/echo", data, {"Content-Type": "application/octet-stream"})
    assert result["event"]["isBase64Encoded"] is True
    assert base64.b64decode(result["event"]["body"]) == data
    assert result["sha256"] == hashlib.sha256(data).hexdigest() and result["length"] == len(data)

    status, headers, body = url.call(style, "POST", "/binary", data, {"Content-Type": "application/octet-stream"})
    assert status == 200 and body == data
    assert header(headers, "Content-Type") == "application/octet-stream"


@STYLES
def test_cookies_in_and_out_custom_status_and_headers(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    event = url.echo(style, "GET", "/echo", headers={"Cookie": "a=1; b=2"})["event"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]

    status, headers, body = url.call(style, "GET", "/custom")
    assert status == 418 and body == b"short and stout"
    assert header(headers, "X-Custom") == "yes"
    assert header(headers, "Content-Type") == "text/plain"
    assert all_headers(headers, "Set-Cookie") == ["s=1; Path=/", "t=2; HttpOnly"]
    assert re.fullmatch(r"[0-9a-f-]{36}", header(headers, "x-amzn-RequestId") or "")


@STYLES
def test_a_result_without_status_code_is_200_json(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    status, headers, body = url.call(style, "GET", "/plain")
    assert status == 200
    assert (header(headers, "Content-Type") or "").startswith("application/json")
    assert json.loads(body) == {"hello": "world", "n": 1}


@STYLES
def test_a_handler_error_is_a_bare_502(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    status, _, body = url.call(style, "POST", "/raise", b"{}", {"Content-Type": "application/json"})
    assert status == 502
    for leak in (SECRET.encode(), b"ValueError", b"stackTrace", b"errorMessage", b"Traceback"):
        assert leak not in body, body


def test_cors_preflight_oversize_bodies_and_cors_on_responses(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = public_url(server, lam, name, Cors=CORS)
    for style in ("host", "path"):
        status, headers, _ = url.call(style, "OPTIONS", "/anything", headers={
            "Origin": "https://good.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-custom"})
        assert status == 200
        assert header(headers, "Access-Control-Allow-Origin") == "https://good.example"
        assert "POST" in (header(headers, "Access-Control-Allow-Methods") or "").split(",")
        assert header(headers, "Access-Control-Max-Age") == "300"
        assert "x-custom" in (header(headers, "Access-Control-Allow-Headers") or "").lower()

        status, headers, _ = url.call(style, "OPTIONS", "/anything", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert status == 200
        assert not [k for k, _ in headers if k.lower().startswith("access-control-")], headers

        status, _, body = url.call(style, "POST", "/echo", os.urandom(6 * 1024 * 1024 + 1),
                                   {"Content-Type": "application/octet-stream"})
        assert status == 413, body[:200]

    time.sleep(1.5)  # records are written every 0.5 s
    assert runs(server, name) == []  # neither preflights nor oversize bodies reach the function

    status, headers, _ = url.call("host", "GET", "/echo", headers={"Origin": "https://good.example"})
    assert status == 200
    assert header(headers, "Access-Control-Allow-Origin") == "https://good.example"
    assert header(headers, "Access-Control-Expose-Headers") == "x-custom"
    status, headers, _ = url.call("path", "GET", "/echo", headers={"Origin": "https://evil.example"})
    assert status == 200
    assert header(headers, "Access-Control-Allow-Origin") is None


def _new_principal(server: Server) -> tuple[str, Credentials]:
    name = unique("caller")
    status, _, body = server.request("POST", "/faas/v1/principals", json.dumps({"Name": name}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 201, body
    arn = json.loads(body)["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    status, _, body = server.request("POST", f"/faas/v1/principals/{name}/keys")
    assert status == 201, body
    key = json.loads(body)
    return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _iam_call(server: Server, url: Url, credentials: Credentials | None = None, sign: bool = True,
              body: bytes = b"") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} if body else {}
    status, _, data = server.request("POST" if body else "GET", f"/lambda-url/{url.url_id}/echo?x=1", body,
                                     headers, credentials=credentials, sign=sign)
    return status, data


def test_aws_iam_urls_need_a_signature_and_a_permission(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])

    assert _iam_call(server, url, sign=False)[0] == 403
    assert url.call("host", "GET", "/echo")[0] == 403

    status, data = _iam_call(server, url, body=b'{"signed": true}')
    assert status == 200, data
    event = json.loads(data)["event"]
    assert json.loads(event["body"]) == {"signed": True}
    iam = event["requestContext"]["authorizer"]["iam"]
    admin_arn = iam["userArn"]
    assert re.fullmatch(rf"arn:aws:iam::{ACCOUNT}:user/[\w+=,.@-]+", admin_arn), iam
    assert iam["accountId"] == ACCOUNT
    assert iam["accessKey"] == server.credentials().access_key_id

    # host-style, signed over the function URL's host
    status, _, data = server.request("GET", "/echo", headers={"Host": url.host})
    assert status == 200, data
    assert json.loads(data)["event"]["requestContext"]["authorizer"]["iam"]["userArn"] == admin_arn

    arn, credentials = _new_principal(server)
    status, data = _iam_call(server, url, credentials)
    assert status == 403, data
    assert SECRET.encode() not in data
    # a wrong secret is refused too
    assert _iam_call(server, url, Credentials(credentials.access_key_id, "x" * 40))[0] == 403

    lam.add_permission(FunctionName=name, StatementId="url-caller", Action="lambda:InvokeFunctionUrl",
                       Principal=arn, FunctionUrlAuthType="AWS_IAM")
    # as in Lambda since October 2025, a URL invocation is an InvokeFunction too
    status, data = _iam_call(server, url, credentials)
    assert status == 403, data
    lam.add_permission(FunctionName=name, StatementId="url-caller-invoke", Action="lambda:InvokeFunction",
                       Principal=arn, InvokedViaFunctionUrl=True)
    deadline = time.monotonic() + 10
    while (result := _iam_call(server, url, credentials))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.25)
    status, data = result
    assert status == 200, data
    iam = json.loads(data)["event"]["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == arn and iam["userArn"] != admin_arn
    assert iam["accessKey"] == credentials.access_key_id
    assert _iam_call(server, url, sign=False)[0] == 403  # still refused unsigned


def test_repeated_request_headers_are_comma_joined(open_url: tuple[str, Url]) -> None:
    _, url = open_url
    endpoint = urlsplit(url.server.endpoint)
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
    try:
        connection.putrequest("GET", "/echo", skip_host=True)
        connection.putheader("Host", url.host)
        connection.putheader("X-Multi", "one")
        connection.putheader("x-multi", "two")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 200
        event = json.loads(response.read())["event"]
    finally:
        connection.close()
    assert event["headers"]["x-multi"] == "one,two"


def test_auth_type_changes_take_effect_at_once(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = public_url(server, lam, name)
    assert url.call("path", "GET", "/echo")[0] == 200
    lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert url.call("path", "GET", "/echo")[0] == 403
    assert url.call("host", "GET", "/echo")[0] == 403
    lam.delete_function_url_config(FunctionName=name)
    assert url.call("path", "GET", "/echo")[0] == 404


def test_a_deleted_functions_url_does_not_serve_a_new_function_of_the_same_name(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = public_url(server, lam, name)
    assert url.call("path", "GET", "/echo")[0] == 200  # the URL is now known to the server
    lam.delete_function(FunctionName=name)
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": APP})})
    with pytest.raises(ClientError) as gone:
        lam.get_function_url_config(FunctionName=name)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    for style in ("path", "host"):
        status, _, body = url.call(style, "GET", "/echo")
        assert status == 404, (style, status, body[:200])


# --- a NONE URL answers only when the function's policy makes it public ----------------------------


def _refused(answer: tuple[int, list[tuple[str, str]], bytes]) -> None:
    status, headers, body = answer
    assert status == 403, (status, body[:300])
    assert header(headers, "x-amzn-ErrorType") == "AccessDeniedException"
    assert json.loads(body)["Message"].startswith("Forbidden")
    assert b"Traceback" not in body


def _eventually(call, status: int):  # type: ignore[no-untyped-def]
    """Policies are cached per node for a few seconds: wait (with a deadline) until a call answers `status`."""
    deadline = time.monotonic() + 10
    while (answer := call())[0] != status and time.monotonic() < deadline:
        time.sleep(0.25)
    return answer


def _wait_for_runs(server: Server, name: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 15
    while len(found := runs(server, name)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.25)
    return found


def test_a_none_url_needs_both_public_statements_and_a_deny_wins(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    document = b'{"kept": true}'

    # no policy at all: 403 for both styles, for every method, and the function never runs
    for style in ("host", "path"):
        _refused(url.call(style, "GET", "/echo"))
        _refused(url.call(style, "POST", "/echo", document, {"Content-Type": "application/json"}))

    # one statement is not enough, whichever it is
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowPublicAccess", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    _refused(url.call("path", "GET", "/echo"))
    lam.remove_permission(FunctionName=name, StatementId="FunctionURLAllowPublicAccess")
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowInvokeAction", Principal="*",
                       Action="lambda:InvokeFunction", InvokedViaFunctionUrl=True)
    _refused(url.call("path", "GET", "/echo"))
    # a grant of InvokeFunctionUrl for an AWS_IAM URL does not open a NONE one
    lam.add_permission(FunctionName=name, StatementId="iam-only", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="AWS_IAM")
    _refused(url.call("host", "GET", "/echo"))

    # GetPolicy shows the URL-only grant as Lambda writes it
    statements = {s["Sid"]: s for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]}
    assert statements["FunctionURLAllowInvokeAction"]["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    assert statements["FunctionURLAllowInvokeAction"]["Principal"] == "*"

    # both: 200, and the body arrives whole
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowPublicAccess", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    for style in ("host", "path"):
        status, _, body = url.call(style, "POST", "/echo", document, {"Content-Type": "application/json"})
        assert status == 200, body[:300]
        assert json.loads(json.loads(body)["event"]["body"]) == {"kept": True}
    # the refused requests never reached the function: only the two allowed ones ran
    assert len(_wait_for_runs(server, name, 2)) == 2

    # ...and the URL-only grant does not let anyone call the Invoke API directly
    status, _, body = server.request("POST", f"/2015-03-31/functions/{name}/invocations", b"{}", sign=False)
    assert status == 403, body
    narrow_arn, narrow = _new_principal(server)  # a principal whose own policies allow nothing
    status, headers, body = server.request("POST", f"/2015-03-31/functions/{name}/invocations", b"{}",
                                           credentials=narrow)
    assert status == 403 and headers.get("x-amzn-ErrorType") == "AccessDeniedException", body
    assert len(runs(server, name)) == 2


def _write_statement(server: Server, name: str, statement: dict) -> None:
    """AddPermission writes only Allow statements; a function policy's Deny is written to the store, where
    the platform reads its statements from (as any other writer of that table would)."""
    with sqlite3.connect(server.data_dir / "faas.db", timeout=30) as db:
        db.execute("INSERT INTO function_permissions (function_name, sid, statement) VALUES (?, ?, ?)",
                   (name, statement["Sid"], json.dumps(statement)))


@pytest.mark.parametrize("action", ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"])
def test_an_explicit_deny_closes_a_public_url(server: Server, lam: Any, action: str) -> None:
    name = deploy(lam)
    url = public_url(server, lam, name)
    assert url.call("path", "GET", "/echo")[0] == 200
    _write_statement(server, name, {"Sid": "deny-everyone", "Effect": "Deny", "Principal": "*", "Action": action,
                                    "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"})
    served = 1
    deadline = time.monotonic() + 10  # policies are cached per node for up to five seconds
    while (answer := url.call("path", "GET", "/echo"))[0] == 200 and time.monotonic() < deadline:
        served += 1
        time.sleep(0.25)
    _refused(answer)
    _refused(url.call("host", "GET", "/echo"))
    lam.remove_permission(FunctionName=name, StatementId="deny-everyone")
    assert url.call("host", "GET", "/echo")[0] == 200
    served += 1
    assert len(_wait_for_runs(server, name, served)) == served  # the refused requests never ran


def _token(server: Server) -> str:
    status, _, body = server.request("POST", "/faas/v1/tokens", json.dumps({"TtlSeconds": 300}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 201, body
    return json.loads(body)["Token"]


def test_a_function_never_sees_the_callers_credentials(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
    admin = server.credentials()
    admin_arn = f"arn:aws:iam::{ACCOUNT}:user/admin"
    token = _token(server)

    # SigV4, with a session token header alongside
    status, _, data = server.request("GET", f"/lambda-url/{url.url_id}/echo",
                                     headers={"X-Amz-Security-Token": "a-session-token"})
    assert status == 200, data
    event = json.loads(data)["event"]
    for leak in (b"AWS4-HMAC-SHA256", b"Signature=", b"a-session-token", admin.secret_access_key.encode()):
        assert leak not in data, leak
    assert "authorization" not in event["headers"] and "x-amz-security-token" not in event["headers"]
    assert event["requestContext"]["authorizer"]["iam"] == {
        "accessKey": admin.access_key_id, "accountId": ACCOUNT, "callerId": "admin", "cognitoIdentity": None,
        "principalOrgId": None, "userArn": admin_arn, "userId": "admin"}

    # a bearer token (what the README suggests for curl): it works on every API, so it must not leak
    for style in ("host", "path"):
        status, _, data = url.call(style, "GET", "/echo", headers={"Authorization": f"Bearer {token}"})
        assert status == 200, data
        assert token.encode() not in data and b"Bearer" not in data
        iam = json.loads(data)["event"]["requestContext"]["authorizer"]["iam"]
        assert iam["userArn"] == admin_arn and iam["accessKey"] is None

    # a NONE URL: the platform's credentials are dropped, the function's own schemes pass
    public = public_url(server, lam, deploy(lam))
    event = public.echo("host", "GET", "/echo", headers={"Authorization": f"Bearer {token}",
                                                          "X-Amz-Security-Token": "a-session-token"})["event"]
    assert "authorization" not in event["headers"] and "x-amz-security-token" not in event["headers"]
    assert "authorizer" not in event["requestContext"]
    assert token not in json.dumps(event)
    event = public.echo("path", "GET", "/echo", headers={"Authorization": "Basic dXNlcjpwYXNz"})["event"]
    assert event["headers"]["authorization"] == "Basic dXNlcjpwYXNz"


def test_refusals_on_aws_iam_urls_are_audited(server: Server, lam: Any) -> None:
    name = deploy(lam)
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
    arn, credentials = _new_principal(server)
    resource = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"

    # Unsigned, from a loopback address of its own: refusals are folded per caller, address and action each
    # minute (faas/dispatch/refusals.py), and this module's other tests refuse anonymous callers on 127.0.0.1.
    _refused(url.call("host", "GET", "/echo", source_ip="127.0.0.2"))
    status, headers, _ = server.request("GET", f"/lambda-url/{url.url_id}/echo", credentials=credentials)
    assert status == 403 and headers.get("x-amzn-ErrorType") == "AccessDeniedException"
    refused_id = headers.get("x-amzn-RequestId")

    # an identity policy's Deny wins over a function policy that allows everyone
    lam.add_permission(FunctionName=name, StatementId="all-url", Principal="*", Action="lambda:InvokeFunctionUrl",
                       FunctionUrlAuthType="AWS_IAM")
    lam.add_permission(FunctionName=name, StatementId="all-invoke", Principal="*", Action="lambda:InvokeFunction",
                       InvokedViaFunctionUrl=True)
    assert _eventually(lambda: _iam_call(server, url, credentials), 200)[0] == 200
    status, _, body = server.request("PUT", f"/faas/v1/principals/{arn.rsplit('/', 1)[1]}/policies/no-invoke",
                                     json.dumps({"PolicyDocument": {"Statement": [
                                         {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}]}}
                                                ).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (200, 201, 204), body
    assert _eventually(lambda: _iam_call(server, url, credentials), 403)[0] == 403

    def audited(**query: str) -> list[dict]:
        status, _, body = server.request("GET", "/faas/v1/audit?" + urlencode({"limit": "1000", **query}))
        assert status == 200, body
        return [e for e in json.loads(body)["Entries"] if e["Resource"] == resource]

    anonymous = audited(principal="anonymous", action="lambda:InvokeFunctionUrl")
    assert [(e["Status"], e["Outcome"]) for e in anonymous] == [(403, "denied")]
    by_caller = audited(principal=arn)
    assert sorted((e["Action"], e["Status"], e["Outcome"]) for e in by_caller) == [
        ("lambda:InvokeFunction", 403, "denied"),  # the identity policy's Deny
        ("lambda:InvokeFunctionUrl", 403, "denied"),  # no grant yet
    ]  # the allowed URL calls are invocations, with records of their own, not audit entries
    assert refused_id and refused_id in {e["RequestId"] for e in by_caller}
    assert all(e["Time"] and e["SourceIp"] for e in anonymous + by_caller)


# --- the platform frames a URL's response ---------------------------------------------------------


def _read_response(reader) -> tuple[int, list[tuple[str, str]], bytes]:  # type: ignore[no-untyped-def]
    status_line = reader.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: list[tuple[str, str]] = []
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    assert not (header(headers, "Transfer-Encoding") and header(headers, "Content-Length")), headers
    assert len(all_headers(headers, "Content-Length")) == 1, headers
    return int(status_line.split()[1]), headers, reader.read(int(header(headers, "Content-Length") or 0))


@STYLES
def test_a_functions_framing_headers_cannot_split_the_response(open_url: tuple[str, Url], style: str) -> None:
    _, url = open_url
    endpoint = urlsplit(url.server.endpoint)
    target, host = ("/frame", url.host) if style == "host" else (f"/lambda-url/{url.url_id}/frame", endpoint.netloc)
    with socket.create_connection((endpoint.hostname, endpoint.port), timeout=60) as sock:
        reader = sock.makefile("rb")
        for _ in range(2):  # the same connection, twice: the first response ended where it said it would
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status, headers, body = _read_response(reader)
            assert status == 200
            assert body == SMUGGLED.encode()  # all of it, as the body of this one response
            assert header(headers, "Content-Length") == str(len(SMUGGLED))
            for dropped in ("Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer"):
                assert header(headers, dropped) is None, (dropped, headers)
            assert header(headers, "X-Kept") == "yes" and header(headers, "X-Smuggled") is None
        status, _, body = url.call(style, "GET", "/switch")  # a 101 would hand the connection over
        assert status == 502 and body == b"Internal Server Error"


# --- errors the URL code does not answer itself ------------------------------------------------------


@STYLES
def test_an_unexpected_error_on_a_url_leaves_in_the_apis_error_format(server: Server, lam: Any, style: str) -> None:
    """Host-style requests pass through the same error middleware as every other request: an error the URL
    code does not answer itself (here the caller's key secret is sealed by a master key the server does not
    hold, as after a restored backup) is Lambda's error shape with a request id, never a bare 500 with a
    stack trace, and it tells the caller no path or key id of the operator's."""
    name = deploy(lam)
    url = Url(server, lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
    _, credentials = _new_principal(server)
    with sqlite3.connect(server.data_dir / "faas.db", timeout=30) as db:
        db.execute("UPDATE access_keys SET secret = ? WHERE key_id = ?",
                   (b"fk1:mk-0badc0de:" + os.urandom(60), credentials.access_key_id))
    db.close()

    path, headers = ("/echo", {"Host": url.host}) if style == "host" else (f"/lambda-url/{url.url_id}/echo", {})
    status, answer_headers, body = server.request("GET", path, headers=headers, credentials=credentials)
    assert status == 502, (status, body[:500])
    assert answer_headers.get("x-amzn-ErrorType") == "KMSAccessDeniedException", answer_headers
    request_id = answer_headers.get("x-amzn-RequestId")
    error = json.loads(body)
    assert request_id and request_id in error["Message"] and error["message"] == error["Message"], error
    for detail in (str(server.data_dir), "master.key", "mk-0badc0de", "Traceback"):
        assert detail not in body.decode(), (detail, body)
    logged = [line for line in server.output().splitlines() if request_id in line]
    assert logged and "mk-0badc0de" in logged[0]
    assert runs(server, name) == []  # refused before the function was reached
