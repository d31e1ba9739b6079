"""Security end to end: a real `faas serve` driven with boto3 and raw SigV4 by several principals.

Every request is authenticated (tampered, expired, unknown or disabled credentials do nothing),
identity and function policies decide who may do what, execution roles give each environment
credentials worth only what its role allows (and nothing once it stops), environment variables
never reach the disk, the logs, the process table or Docker in plain text, the master key guards
the store, and the audit log says who did what.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from faas.security import sigv4
from faas.security.sigv4 import Credentials
from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
REGION = "us-east-1"
FUNCTIONS = "/2015-03-31/functions"

ECHO = "def handler(event, context):\n    return {'fn': context.function_name, 'event': event}\n"

# Proves the function sees its variable without the value ever travelling back (or into a record).
SEES_SECRET = """
import hashlib, os

def handler(event, context):
    value = os.environ.get("SECRET_VALUE", "")
    return {"sha256": hashlib.sha256(value.encode()).hexdigest(), "length": len(value)}
"""

# Function A of the execution-role test: boto3 is not in the runtime image, so it signs its calls to
# the platform with the standard library, using the role credentials of its environment.
SIGNING_CALLER = r'''
import datetime, hashlib, hmac, json, os, urllib.error, urllib.parse, urllib.request


def _hmac(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def call(method, path, body=b""):
    """A SigV4-signed request to the platform as this environment's role session."""
    url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + path
    parts = urllib.parse.urlsplit(url)
    region = os.environ.get("AWS_REGION", "us-east-1")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": parts.netloc, "x-amz-date": stamp,
               "x-amz-security-token": os.environ["AWS_SESSION_TOKEN"]}
    if body:
        headers["content-type"] = "application/json"
    signed = sorted(headers)
    canonical = "\n".join([
        method, urllib.parse.quote(parts.path, safe="/~"), "",
        "".join(f"{name}:{headers[name].strip()}\n" for name in signed),
        ";".join(signed), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{stamp[:8]}/{region}/lambda/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode(), stamp[:8])
    for part in (region, "lambda", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={os.environ['AWS_ACCESS_KEY_ID']}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    request = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("x-amzn-ErrorType"), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-amzn-ErrorType"), exc.read().decode()


def handler(event, context):
    out = {"key_prefix": os.environ["AWS_ACCESS_KEY_ID"][:4],
           "has_token": bool(os.environ.get("AWS_SESSION_TOKEN"))}
    for label, (method, path, body) in event.get("calls", {}).items():
        status, error, text = call(method, path, json.dumps(body).encode() if body is not None else b"")
        out[label] = {"status": status, "error": error, "body": text}
    if event.get("leak"):  # only the tests that check revocation ask for this
        out["credentials"] = [os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                              os.environ["AWS_SESSION_TOKEN"]]
    return out
'''


# --- helpers ---------------------------------------------------------------------------------------


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def header(headers: dict, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def native(server: Server, method: str, path: str, payload: Any = None, expect: int | None = None) -> Any:
    """A call to faas's native API as the admin; the JSON answer (None for an empty one)."""
    body = json.dumps(payload).encode() if payload is not None else b""
    status, _, answer = server.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    if expect is not None:
        assert status == expect, (method, path, status, answer[:500])
    return json.loads(answer) if answer else None


def put_policy(server: Server, owner: str, name: str, statements: list[dict], kind: str = "principals") -> None:
    native(server, "PUT", f"/faas/v1/{kind}/{owner}/policies/{name}",
           {"PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}, expect=200)


def make_principal(server: Server, name: str, statements: list[dict] | None = None) -> Credentials:
    """A user principal with one access key and, when given, an inline policy `main`."""
    native(server, "POST", "/faas/v1/principals", {"Name": name}, expect=201)
    key = native(server, "POST", f"/faas/v1/principals/{name}/keys", expect=201)
    if statements:
        put_policy(server, name, "main", statements)
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def lambda_as(server: Server, credentials: Credentials):  # type: ignore[no-untyped-def]
    return boto3.client(
        "lambda", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False, read_timeout=120,
                      connect_timeout=5),
    )


def refused(call: Callable[..., Any], *args: Any, code: str = "AccessDeniedException", status: int = 403,
            **kwargs: Any) -> dict:
    """The call fails with exactly this error; returns the error response."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), response
    return response


def create(lam, name: str, code: str = ECHO, role: str = ROLE, **extra: Any) -> dict:  # type: ignore[no-untyped-def]
    return lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": code})}, Timeout=30, **extra)


def invoke_json(lam, name: str, payload: Any = None) -> Any:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    body = response["Payload"].read()
    assert response["StatusCode"] == 200 and "FunctionError" not in response, body
    return json.loads(body)


def exists(lam, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        lam.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException", exc.response
        return False
    return True


def signed_headers(server: Server, credentials: Credentials, method: str, path: str, body: bytes = b"",
                   headers: dict | None = None, now: dt.datetime | None = None) -> dict:
    headers = dict(headers or {})
    headers.update(sigv4.sign(credentials, REGION, "lambda", method, server.endpoint + path, headers,
                              sigv4.payload_hash(body), now=now))
    return headers


def assert_error(answer: tuple[int, dict, bytes], status: int, *codes: str) -> str:
    """Lambda's error shape: the status, x-amzn-ErrorType, a JSON body with a message; returns the code."""
    got_status, headers, body = answer
    code = header(headers, "x-amzn-ErrorType")
    assert got_status == status and code in codes, (got_status, code, body[:500])
    document = json.loads(body)
    assert document.get("message") or document.get("Message"), document
    assert "Traceback" not in body.decode(errors="replace")
    return code  # type: ignore[return-value]


def create_body(name: str) -> bytes:
    return json.dumps({"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
                       "Code": {"ZipFile": base64.b64encode(make_zip({"app.py": ECHO})).decode()}}).encode()


def audit(server: Server, **query: str) -> list[dict]:
    return native(server, "GET", "/faas/v1/audit?" + urllib.parse.urlencode({"limit": "1000", **query}),
                  expect=200)["Entries"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def reader(server: Server) -> Credentials:
    """`reader`: allowed lambda:Get* and lambda:List* on everything, nothing else."""
    return make_principal(server, "reader", [
        {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"], "Resource": "*"}])


@pytest.fixture(scope="module")
def reader_lam(server: Server, reader: Credentials):  # type: ignore[no-untyped-def]
    return lambda_as(server, reader)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for tests that stop, restart or scan it."""
    srv = Server(tmp_path / "data")
    try:
        yield srv.start()
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()


# --- 1. authentication ---------------------------------------------------------------------------------


def test_every_request_is_authenticated_and_a_refused_one_does_nothing(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    admin = server.credentials()

    # Unsigned: refused in Lambda's error shape; only /health is open.
    assert_error(server.request("GET", FUNCTIONS, sign=False), 403, "UnrecognizedClientException")
    assert_error(server.request("GET", "/faas/v1/principals", sign=False), 403, "UnrecognizedClientException")
    assert server.request("GET", "/health", sign=False)[0] == 200

    def refused_create(expect: tuple[str, ...], mutate: Callable[[str, bytes, dict], tuple[bytes, dict]],
                       credentials: Credentials = admin, now: dt.datetime | None = None) -> None:
        name = unique("sec-refused")
        body = create_body(name)
        headers = signed_headers(server, credentials, "POST", FUNCTIONS, body,
                                 {"Content-Type": "application/json", "X-Faas-Test": "signed"}, now=now)
        body, headers = mutate(name, body, headers)
        assert_error(server.request("POST", FUNCTIONS, body, headers, sign=False), 403, *expect)
        for stored in (name, name + "x", name[:-1] + "x"):  # what was signed, what the tampering sent
            assert not exists(lam, stored), "a refused CreateFunction stored its function"

    def as_is(name: str, body: bytes, headers: dict) -> tuple[bytes, dict]:
        return body, headers

    # Control: the same construction, untouched, is accepted.
    name = unique("sec-signed")
    body = create_body(name)
    headers = signed_headers(server, admin, "POST", FUNCTIONS, body, {"Content-Type": "application/json"})
    assert server.request("POST", FUNCTIONS, body, headers, sign=False)[0] == 201
    assert exists(lam, name)

    # A body other than the one signed (same length, another function name).
    refused_create(("InvalidSignatureException",),
                   lambda name, body, headers: (body.replace(name.encode(), (name[:-1] + "x").encode()), headers))
    refused_create(("InvalidSignatureException",),
                   lambda name, body, headers: (create_body(name + "x"), headers))

    # A signed header changed: the date by one second (same day), or a custom header.
    def shift_date(name: str, body: bytes, headers: dict) -> tuple[bytes, dict]:
        signed_at = dt.datetime.strptime(headers["X-Amz-Date"], sigv4.AMZ_DATE_FORMAT)
        shifted = signed_at + dt.timedelta(seconds=1 if signed_at.hour < 23 else -1)
        return body, {**headers, "X-Amz-Date": shifted.strftime(sigv4.AMZ_DATE_FORMAT)}

    refused_create(("InvalidSignatureException",), shift_date)
    refused_create(("InvalidSignatureException",), lambda name, body, headers: (body, {**headers, "X-Faas-Test": "changed"}))
    # Signed 20 minutes ago: a replayed request has expired.
    refused_create(("InvalidSignatureException",), as_is,
                   now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20))
    # Unknown key id; a known key id with the wrong secret.
    refused_create(("UnrecognizedClientException",), as_is,
                   credentials=Credentials("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)))
    refused_create(("InvalidSignatureException",), as_is,
                   credentials=Credentials(admin.access_key_id, admin.secret_access_key[::-1]))
    # Malformed Authorization headers.
    for garbage in ("AWS4-HMAC-SHA256 garbage", "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00",
                    "Basic YWRtaW46YWRtaW4=", "AWS4-HMAC-SHA256", "Bearer"):
        refused_create(("InvalidSignatureException", "UnrecognizedClientException"),
                       lambda name, body, headers, garbage=garbage: (body, {**headers, "Authorization": garbage}))
    # Another query or another path than the one signed.
    for signed_path, sent_path in ((f"{FUNCTIONS}?MaxItems=1", f"{FUNCTIONS}?MaxItems=2"),
                                   (f"{FUNCTIONS}/{name}/configuration", f"{FUNCTIONS}/{name}x/configuration")):
        answer = server.request("GET", sent_path, headers=signed_headers(server, admin, "GET", signed_path), sign=False)
        assert_error(answer, 403, "InvalidSignatureException")
    # The signed date must be the one in the credential scope.
    refused_create(("InvalidSignatureException",), lambda name, body, headers: (body, {
        **headers, "Authorization": headers["Authorization"].replace(headers["X-Amz-Date"][:8], "20200101")}))


def test_disabled_and_deleted_keys_are_refused_at_once(server: Server) -> None:
    name = unique("keyholder")
    credentials = make_principal(server, name, [{"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}])
    client = lambda_as(server, credentials)
    assert "Functions" in client.list_functions()  # also puts the key in the server's cache

    native(server, "PATCH", f"/faas/v1/keys/{credentials.access_key_id}", {"Enabled": False}, expect=200)
    refused(client.list_functions, code="UnrecognizedClientException")
    keys = native(server, "GET", f"/faas/v1/keys?principal={name}", expect=200)["AccessKeys"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(credentials.access_key_id, "Inactive")]

    native(server, "PATCH", f"/faas/v1/keys/{credentials.access_key_id}", {"Enabled": True}, expect=200)
    assert "Functions" in client.list_functions()

    native(server, "DELETE", f"/faas/v1/keys/{credentials.access_key_id}", expect=204)
    refused(client.list_functions, code="UnrecognizedClientException")


def test_bearer_tokens(server: Server) -> None:
    token = native(server, "POST", "/faas/v1/tokens", {"TtlSeconds": 600}, expect=201)["Token"]
    status, _, body = server.request("GET", FUNCTIONS, headers={"Authorization": f"Bearer {token}"}, sign=False)
    assert status == 200 and "Functions" in json.loads(body)
    for garbage in ("faas_" + secrets.token_urlsafe(32), token + "x", "", token[:-1]):
        answer = server.request("GET", FUNCTIONS, headers={"Authorization": f"Bearer {garbage}"}, sign=False)
        assert_error(answer, 403, "UnrecognizedClientException", "InvalidSignatureException")

    # A token speaks for its principal, with that principal's policy.
    name = unique("tokenholder")
    credentials = make_principal(server, name, [
        {"Effect": "Allow", "Action": ["lambda:List*", "faas:CreateToken"], "Resource": "*"}])
    body = json.dumps({"TtlSeconds": 600}).encode()
    headers = signed_headers(server, credentials, "POST", "/faas/v1/tokens", body, {"Content-Type": "application/json"})
    status, _, answer = server.request("POST", "/faas/v1/tokens", body, headers, sign=False)
    assert status == 201, answer
    token = json.loads(answer)["Token"]
    assert server.request("GET", FUNCTIONS, headers={"Authorization": f"Bearer {token}"}, sign=False)[0] == 200
    assert_error(server.request("POST", FUNCTIONS, create_body(unique("sec-token")),
                                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                sign=False), 403, "AccessDeniedException")


def test_a_bearer_token_cannot_outlive_itself(server: Server) -> None:
    parent = native(server, "POST", "/faas/v1/tokens", {"TtlSeconds": 60}, expect=201)
    status, _, answer = server.request("POST", "/faas/v1/tokens", json.dumps({"TtlSeconds": 7 * 86400}).encode(),
                                       {"Authorization": f"Bearer {parent['Token']}",
                                        "Content-Type": "application/json"}, sign=False)
    if status == 201:  # a child token may exist, but not beyond its parent
        child = json.loads(answer)
        assert dt.datetime.fromisoformat(child["Expiration"]) <= dt.datetime.fromisoformat(parent["Expiration"])
    else:
        assert status in (400, 403), answer


# --- 2. identity policies --------------------------------------------------------------------------------


def test_a_reader_reads_and_changes_nothing(server: Server, lam, reader: Credentials, reader_lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("sec-read")
    create(lam, name, Description="original")
    before = lam.get_function_configuration(FunctionName=name)

    assert reader_lam.list_functions()["Functions"]
    assert reader_lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    assert reader_lam.get_function_configuration(FunctionName=name)["RevisionId"] == before["RevisionId"]

    other = unique("sec-read-new")
    refused(create, reader_lam, other)
    refused(reader_lam.update_function_configuration, FunctionName=name, Description="pwned")
    refused(reader_lam.update_function_code, FunctionName=name, ZipFile=make_zip({"app.py": "x = 1\n"}))
    refused(reader_lam.delete_function, FunctionName=name)
    refused(reader_lam.invoke, FunctionName=name, Payload=b"{}")
    refused(reader_lam.invoke, FunctionName=name, Payload=b"{}", InvocationType="DryRun")
    refused(reader_lam.invoke, FunctionName=name, Payload=b"{}", InvocationType="Event")
    refused(reader_lam.add_permission, FunctionName=name, StatementId="self-grant",
            Action="lambda:InvokeFunction", Principal=user_arn("reader"))
    # The native API is off limits too: it cannot give itself more rights.
    body = json.dumps({"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}).encode()
    path = "/faas/v1/principals/reader/policies/escalate"
    headers = signed_headers(server, reader, "PUT", path, body, {"Content-Type": "application/json"})
    assert_error(server.request("PUT", path, body, headers, sign=False), 403, "AccessDeniedException")

    after = lam.get_function_configuration(FunctionName=name)
    assert (after["RevisionId"], after["Description"], after["CodeSha256"]) == \
        (before["RevisionId"], "original", before["CodeSha256"])
    assert not exists(lam, other)
    assert "escalate" not in native(server, "GET", "/faas/v1/principals/reader/policies", expect=200)["Policies"]


def test_resource_scoped_allow_and_an_explicit_deny(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("team-lead")
    credentials = make_principal(server, name, [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:team-*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE},
        {"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"},
    ])
    team = lambda_as(server, credentials)
    mine, theirs = unique("team-x"), unique("other-x")

    assert create(team, mine)["FunctionName"] == mine
    team.update_function_configuration(FunctionName=mine, Description="mine")
    refused(create, team, theirs)
    assert not exists(lam, theirs)
    create(lam, theirs)
    refused(team.update_function_configuration, FunctionName=theirs, Description="mine now")
    refused(team.delete_function, FunctionName=theirs)
    refused(team.delete_function, FunctionName=mine)  # the Deny wins over lambda:*
    assert exists(lam, mine) and exists(lam, theirs)
    refused(team.list_functions)  # lambda:ListFunctions acts on "*", not on team-*

    # Policy edits count from the next request (the server's cached caller is dropped).
    put_policy(server, name, "main", [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:team-*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE}])
    team.delete_function(FunctionName=mine)
    assert not exists(lam, mine)
    native(server, "DELETE", f"/faas/v1/principals/{name}/policies/main", expect=204)
    refused(create, team, unique("team-y"))
    put_policy(server, name, "main", [{"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}])
    assert "Functions" in team.list_functions()


def test_giving_a_function_a_role_needs_pass_role(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    ops = unique("ops-role")
    native(server, "POST", "/faas/v1/roles", {"Name": ops}, expect=201)
    put_policy(server, ops, "all", [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}], kind="roles")
    ops_arn = f"arn:aws:iam::{ACCOUNT}:role/{ops}"
    name = unique("team-lead")
    team = lambda_as(server, make_principal(server, name, [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:team-*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE}]))
    mine, escalated = unique("team-x"), unique("team-esc")
    create(team, mine)  # the role it may pass

    # Allowed today: team-esc would then run with lambda:* on every function (read any secret, delete any).
    refused(create, team, escalated, role=ops_arn)
    assert not exists(lam, escalated)
    refused(team.update_function_configuration, FunctionName=mine, Role=ops_arn)
    assert lam.get_function_configuration(FunctionName=mine)["Role"] == ROLE


# --- 3. function policies --------------------------------------------------------------------------------


def test_function_policies(server: Server, lam, reader_lam) -> None:  # type: ignore[no-untyped-def]
    shared, private = unique("sec-shared"), unique("sec-private")
    create(lam, shared)
    create(lam, private)
    refused(reader_lam.get_policy, FunctionName=shared, code="ResourceNotFoundException", status=404)

    added = lam.add_permission(FunctionName=shared, StatementId="reader-invoke", Action="lambda:InvokeFunction",
                               Principal=user_arn("reader"))
    assert json.loads(added["Statement"])["Sid"] == "reader-invoke"
    assert invoke_json(reader_lam, shared, {"hello": "reader"}) == {"fn": shared, "event": {"hello": "reader"}}
    assert reader_lam.invoke(FunctionName=shared, InvocationType="DryRun")["StatusCode"] == 204
    refused(reader_lam.invoke, FunctionName=private, Payload=b"{}")
    refused(reader_lam.invoke, FunctionName=private, InvocationType="DryRun")
    refused(reader_lam.update_function_configuration, FunctionName=shared, Description="x")  # invoke only

    policy = json.loads(reader_lam.get_policy(FunctionName=shared)["Policy"])
    assert policy["Statement"] == [{
        "Sid": "reader-invoke", "Effect": "Allow", "Principal": {"AWS": user_arn("reader")},
        "Action": "lambda:InvokeFunction", "Resource": function_arn(shared)}]
    refused(lam.add_permission, FunctionName=shared, StatementId="reader-invoke", Action="lambda:InvokeFunction",
            Principal=user_arn("someone"), code="ResourceConflictException", status=409)
    assert len(json.loads(lam.get_policy(FunctionName=shared)["Policy"])["Statement"]) == 1

    lam.remove_permission(FunctionName=shared, StatementId="reader-invoke")
    refused(reader_lam.invoke, FunctionName=shared, Payload=b"{}")
    refused(reader_lam.invoke, FunctionName=shared, InvocationType="DryRun")

    # An identity policy's Deny beats the function policy's Allow, from the next request on.
    name = unique("blocked")
    blocked = lambda_as(server, make_principal(server, name))
    lam.add_permission(FunctionName=shared, StatementId="blocked-invoke", Action="lambda:InvokeFunction",
                       Principal=user_arn(name))
    assert blocked.invoke(FunctionName=shared, InvocationType="DryRun")["StatusCode"] == 204
    put_policy(server, name, "deny-invoke", [{"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}])
    refused(blocked.invoke, FunctionName=shared, InvocationType="DryRun")
    refused(blocked.invoke, FunctionName=shared, Payload=b"{}")


# --- 4. execution roles ----------------------------------------------------------------------------------


def test_execution_role_credentials(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    missing_role = f"arn:aws:iam::{ACCOUNT}:role/{unique('no-such-role')}"
    name = unique("sec-norole")
    refused(create, lam, name, role=missing_role, code="InvalidParameterValueException", status=400)
    assert not exists(lam, name)

    a, b, c = unique("sec-a"), unique("sec-b"), unique("sec-c")
    role = unique("caller-role")
    native(server, "POST", "/faas/v1/roles", {"Name": role}, expect=201)
    put_policy(server, role, "invoke-b", [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                           "Resource": function_arn(b)}], kind="roles")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    create(lam, a, code=SIGNING_CALLER, role=role_arn)
    create(lam, b)
    create(lam, c)
    refused(lam.update_function_configuration, FunctionName=c, Role=missing_role,
            code="InvalidParameterValueException", status=400)
    assert lam.get_function_configuration(FunctionName=c)["Role"] == ROLE

    calls = {
        "invoke_b": ["POST", f"{FUNCTIONS}/{b}/invocations", {"from": "A"}],
        "invoke_c": ["POST", f"{FUNCTIONS}/{c}/invocations", {"from": "A"}],
        "config_c": ["GET", f"{FUNCTIONS}/{c}/configuration", None],
        "config_b": ["GET", f"{FUNCTIONS}/{b}/configuration", None],
        "principals": ["GET", "/faas/v1/principals", None],
    }
    out = invoke_json(lam, a, {"calls": calls, "leak": True})
    assert out["key_prefix"] == "ASIA" and out["has_token"]
    assert out["invoke_b"]["status"] == 200, out["invoke_b"]
    assert json.loads(out["invoke_b"]["body"]) == {"fn": b, "event": {"from": "A"}}
    for label in ("invoke_c", "config_c", "config_b", "principals"):
        assert (out[label]["status"], out[label]["error"]) == (403, "AccessDeniedException"), (label, out[label])

    # The refusals name the role session (the audit log is flushed in batches: poll for them).
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{a}"
    expected = {("lambda:InvokeFunction", function_arn(c), "denied"),
                ("lambda:GetFunctionConfiguration", function_arn(c), "denied")}
    wait_for(lambda: {(e["Action"], e["Resource"], e["Outcome"])
                      for e in audit(server, principal=session_arn)} >= expected,
             20, "the role session's refusals in the audit log")

    # The session's credentials, once out of the environment, still are the session's...
    session = Credentials(*out["credentials"])
    assert lambda_as(server, session).invoke(FunctionName=b, InvocationType="DryRun")["StatusCode"] == 204
    refused(lambda_as(server, Credentials(session.access_key_id, session.secret_access_key)).invoke,
            FunctionName=b, InvocationType="DryRun", code="UnrecognizedClientException")  # no token
    refused(lambda_as(server, Credentials(session.access_key_id, session.secret_access_key, "faas-session-x")).invoke,
            FunctionName=b, InvocationType="DryRun", code="UnrecognizedClientException")  # wrong token
    # ... and die with the environment: a configuration change retires it.
    lam.update_function_configuration(FunctionName=a, Description="retire the environment")

    def revoked() -> bool:
        try:
            lambda_as(server, session).invoke(FunctionName=b, InvocationType="DryRun")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "UnrecognizedClientException", exc.response
            return True
        return False

    wait_for(revoked, 20, "the stopped environment's credentials to be revoked")
    # A new environment gets new credentials, which work.
    fresh = invoke_json(lam, a, {"calls": {"invoke_b": calls["invoke_b"]}, "leak": True})
    assert fresh["invoke_b"]["status"] == 200 and fresh["credentials"][0] != session.access_key_id


@pytest.mark.parametrize("how", [
    "SIGTERM",
    pytest.param("SIGKILL"),
])
def test_role_credentials_do_not_outlive_a_restart(own_server: Server, how: str) -> None:
    lam = own_server.client()
    name = unique("sec-leak")
    create(lam, name, code=SIGNING_CALLER)
    session = Credentials(*invoke_json(lam, name, {"leak": True})["credentials"])
    # Recognised (the default role is allowed nothing, so: authenticated, not authorised).
    refused(lambda_as(own_server, session).list_functions)

    own_server.stop(getattr(signal, how))
    own_server.start()
    refused(lambda_as(own_server, session).list_functions, code="UnrecognizedClientException")


# --- 5. encrypted environment variables ----------------------------------------------------------------


def _scan(root: Path, needles: list[bytes], skip: set[str]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name not in skip:
            data = path.read_bytes()
            found += [f"{path} holds {needle!r}" for needle in needles if needle in data]
    return found


def _docker_inspect(node: str) -> str:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=faas.node={node}"], check=True,
                         capture_output=True, text=True).stdout.split()
    assert ids, "no environment of this server is running"
    # One at a time: a retired environment may be gone by the time it is inspected.
    found = [subprocess.run(["docker", "inspect", one], capture_output=True, text=True) for one in ids]
    assert any(done.returncode == 0 for done in found)
    return "".join(done.stdout for done in found)


def test_environment_variables_stay_secret(own_server: Server) -> None:
    server = own_server
    lam = server.client()
    first, second = "sv1-" + secrets.token_hex(16), "sv2-" + secrets.token_hex(16)
    name = unique("sec-env")
    create(lam, name, code=SEES_SECRET, Environment={"Variables": {"SECRET_VALUE": first}})
    process_tables = [subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout]

    seen = invoke_json(lam, name)
    assert seen == {"sha256": hashlib.sha256(first.encode()).hexdigest(), "length": len(first)}
    assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == {"SECRET_VALUE": first}

    outsider = lambda_as(server, make_principal(server, "invoker", [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]))
    assert invoke_json(outsider, name)["length"] == len(first)
    for call in (outsider.get_function_configuration, outsider.get_function):
        assert first not in json.dumps(refused(call, FunctionName=name))

    node = (server.data_dir / "node-id").read_text().strip()
    inspected = _docker_inspect(node)
    process_tables.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout)

    # A new value replaces the old one; the old one must not linger either.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"SECRET_VALUE": second}})
    assert invoke_json(lam, name)["sha256"] == hashlib.sha256(second.encode()).hexdigest()
    inspected += _docker_inspect(node)
    process_tables.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout)

    assert '"Env"' in inspected and "AWS_LAMBDA_RUNTIME_API" in inspected
    for value in (first, second):
        assert value not in inspected, "a function's variable is in Docker's container config"
        assert not any(value in table for table in process_tables), "a function's variable is on a command line"

    assert server.stop() == 0
    needles = [first.encode(), second.encode()]
    assert _scan(server.data_dir, [name.encode()], skip={"master.key"}), "the scan does not read the store"
    assert _scan(server.data_dir, needles, skip={"master.key"}) == []
    log = server.log_path.read_bytes()
    assert not any(needle in log for needle in needles), "a function's variable is in the server's log"


# --- 6. the master key ------------------------------------------------------------------------------------


def _serve_fails(server: Server) -> tuple[int, str]:
    """Run `faas serve` expecting it to refuse to start; its exit code and output."""
    try:
        done = subprocess.run([sys.executable, "-m", "faas", "serve"], env=server.env, capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"faas serve started although it should not:\n{exc.stdout}\n{exc.stderr}") from None
    return done.returncode, done.stdout + done.stderr


def _other_key_file(key_id: str) -> str:
    return json.dumps({"version": 1, "keys": [{"id": key_id, "key": base64.b64encode(os.urandom(32)).decode(),
                                               "created": "2025-01-01T00:00:00+00:00"}]}) + "\n"


def _key_ids(path: Path) -> list[str]:
    return [k["id"] for k in json.loads(path.read_text())["keys"]]


def _rotate(server: Server) -> subprocess.Popen:
    """`faas keys rotate` against the server's data dir, in the background."""
    return subprocess.Popen([sys.executable, "-m", "faas", "keys", "rotate", "--data-dir", str(server.data_dir)],
                            env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _check_functions(lam, expected: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Every function runs and sees its variable; the API shows it (cold starts in parallel)."""
    def check(name: str) -> None:
        assert invoke_json(lam, name)["sha256"] == hashlib.sha256(expected[name].encode()).hexdigest(), name
        assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == \
            {"SECRET_VALUE": expected[name]}

    with ThreadPoolExecutor(min(len(expected), 8)) as pool:
        list(pool.map(check, expected))


def test_a_missing_or_wrong_master_key_stops_the_start(own_server: Server) -> None:
    server = own_server
    lam = server.client()
    expected = {unique("sec-mk"): "mk-" + secrets.token_hex(8) for _ in range(2)}
    for name, value in expected.items():
        create(lam, name, code=SEES_SECRET, Environment={"Variables": {"SECRET_VALUE": value}})
    _check_functions(lam, expected)
    server.stop()

    key_file = server.data_dir / "master.key"
    original = key_file.read_bytes()
    key_file.rename(server.data_dir.parent / "master.key.away")
    code, output = _serve_fails(server)
    assert code != 0 and "master key" in output and "missing" in output, output
    assert "Traceback" not in output
    assert not key_file.exists(), "faas serve made a new master key although the store holds secrets"

    (original_id,) = _key_ids(server.data_dir.parent / "master.key.away")
    for wrong in (_other_key_file("mk-0123abcd"), _other_key_file(original_id)):  # another key; same id, other bytes
        key_file.write_text(wrong)
        key_file.chmod(0o600)
        code, output = _serve_fails(server)
        assert code != 0 and "master key" in output, output
        assert "Traceback" not in output
        assert key_file.read_text() == wrong, "a failed start changed the key file"

    shutil.move(server.data_dir.parent / "master.key.away", key_file)
    assert key_file.read_bytes() == original
    server.start()
    lam = server.client()
    _check_functions(lam, expected)


def test_master_key_rotation_while_serving(own_server: Server) -> None:
    server = own_server
    lam = server.client()
    key_file = server.data_dir / "master.key"
    (old_id,) = _key_ids(key_file)
    expected = {unique("sec-rot"): "rot-" + secrets.token_hex(8) for _ in range(3)}
    for name, value in expected.items():
        create(lam, name, code=SEES_SECRET, Environment={"Variables": {"SECRET_VALUE": value}})
    _check_functions(lam, expected)
    principal = make_principal(server, unique("rotated"), [{"Effect": "Allow", "Action": "lambda:List*",
                                                           "Resource": "*"}])

    # Work goes on during the rotation: new functions (new data keys), new environments (new sessions).
    rotation = _rotate(server)
    deadline = time.monotonic() + 90
    during = 0
    while rotation.poll() is None:
        assert time.monotonic() < deadline, "the rotation does not finish"
        if during < 3:
            during += 1
            added = unique("sec-rot-during")
            expected[added] = "rot-" + secrets.token_hex(8)
            create(lam, added, code=SEES_SECRET, Environment={"Variables": {"SECRET_VALUE": expected[added]}})
        _check_functions(lam, expected)
    output, _ = rotation.communicate()
    assert rotation.returncode == 0, output
    assert server.proc is not None and server.proc.poll() is None

    (new_id,) = _key_ids(key_file)
    assert new_id != old_id and new_id in output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # The running server keeps working: old functions, new and changed secrets, existing keys.
    _check_functions(lam, expected)
    added = unique("sec-rot-new")
    expected[added] = "rot-" + secrets.token_hex(8)
    create(lam, added, code=SEES_SECRET, Environment={"Variables": {"SECRET_VALUE": expected[added]}})
    changed = next(iter(expected))
    expected[changed] = "rot-" + secrets.token_hex(8)
    lam.update_function_configuration(FunctionName=changed, Environment={"Variables": {"SECRET_VALUE": expected[changed]}})
    _check_functions(lam, expected)
    assert "Functions" in lambda_as(server, principal).list_functions()

    server.stop()
    server.start()
    lam = server.client()
    _check_functions(lam, expected)
    assert "Functions" in lambda_as(server, principal).list_functions()
    assert _key_ids(key_file) == [new_id]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


# --- 7. the audit log -------------------------------------------------------------------------------------


def test_audit_log(server: Server, lam, reader: Credentials, reader_lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("sec-audit")
    create(lam, name)
    lam.update_function_configuration(FunctionName=name, Description="audited")
    refused(reader_lam.delete_function, FunctionName=name)
    # Anonymous, from a loopback address of its own: anonymous refusals fold per address and action each
    # minute (faas/dispatch/refusals.py), and this module's other tests refuse anonymous callers on 127.0.0.1.
    endpoint = urllib.parse.urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30,
                                            source_address=("127.0.0.3", 0))
    connection.request("DELETE", f"{FUNCTIONS}/{name}")
    assert connection.getresponse().status == 403
    connection.close()
    resource = function_arn(name)

    def ours(entries: list[dict]) -> list[tuple]:
        return [(e["Principal"], e["Action"], e["Status"], e["Outcome"]) for e in entries if e["Resource"] == resource]

    everything = ours(audit(server))
    admin = user_arn("admin")
    assert (admin, "lambda:CreateFunction", 201, "allowed") in everything
    assert (admin, "lambda:UpdateFunctionConfiguration", 200, "allowed") in everything
    assert (user_arn("reader"), "lambda:DeleteFunction", 403, "denied") in everything
    assert ("anonymous", "lambda:DeleteFunction", 403, "denied") in everything
    entry = next(e for e in audit(server) if e["Resource"] == resource)
    assert entry["RequestId"] and entry["Time"]

    by_reader = audit(server, principal=user_arn("reader"))
    assert by_reader and {e["Principal"] for e in by_reader} == {user_arn("reader")}
    assert ours(by_reader) == [(user_arn("reader"), "lambda:DeleteFunction", 403, "denied")]
    creates = audit(server, action="lambda:CreateFunction")
    assert creates and {e["Action"] for e in creates} == {"lambda:CreateFunction"}
    assert ours(creates) == [(admin, "lambda:CreateFunction", 201, "allowed")]
    both = audit(server, principal=admin, action="lambda:UpdateFunctionConfiguration")
    assert ours(both) == [(admin, "lambda:UpdateFunctionConfiguration", 200, "allowed")]
    assert exists(lam, name)

    # Reading the log is itself a privilege.
    path = "/faas/v1/audit"
    assert_error(server.request("GET", path, headers=signed_headers(server, reader, "GET", path), sign=False),
                 403, "AccessDeniedException")
