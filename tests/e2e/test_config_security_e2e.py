"""What a function's configuration gives away, end to end against a real `faas serve` with boto3:

- environment variables reach only callers allowed lambda:GetFunctionConfiguration on the function
  (or lambda:GetFunction, through GetFunction), whether they list, create, update or call from inside a
  function with its role's credentials;
- an asynchronous destination must be one the source function's execution role may invoke: refused
  when configured, and dropped (logged and audited, never delivered) when the right is gone by then.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_security_e2e import SIGNING_CALLER

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
REGION = "us-east-1"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
ECHO = "def handler(event, context):\n    print('ran ' + context.aws_request_id)\n    return {'ok': True}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    # Retries after 1 s rather than Lambda's minute.
    srv = Server(tmp_path_factory.mktemp("faas") / "data", extra_env={"FAAS_ASYNC_RETRY_BASE_S": "1"}).start()
    yield srv
    srv.stop()


# --- helpers -------------------------------------------------------------------------------------------


def native(server: Server, method: str, path: str, payload: Any = None, expect: int = 200) -> Any:
    body = json.dumps(payload).encode() if payload is not None else b""
    status, _, answer = server.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    assert status == expect, (method, path, status, answer[:500])
    return json.loads(answer) if answer else None


def role(server: Server, name: str, statements: list[dict]) -> str:
    native(server, "POST", "/faas/v1/roles", {"Name": name}, expect=201)
    if statements:
        native(server, "PUT", f"/faas/v1/roles/{name}/policies/main",
               {"PolicyDocument": {"Version": "2012-10-17", "Statement": statements}})
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def principal(server: Server, statements: list[dict]) -> Credentials:
    name = unique("user")
    native(server, "POST", "/faas/v1/principals", {"Name": name}, expect=201)
    key = native(server, "POST", f"/faas/v1/principals/{name}/keys", expect=201)
    native(server, "PUT", f"/faas/v1/principals/{name}/policies/main",
           {"PolicyDocument": {"Version": "2012-10-17", "Statement": statements}})
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def lambda_as(server: Server, credentials: Credentials):  # type: ignore[no-untyped-def]
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key,
                        config=Config(retries={"max_attempts": 1}, read_timeout=120, connect_timeout=5))


def allow(action: str | list[str], resource: str) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def create(lam, name: str, role_arn: str = ROLE, code: str = ECHO, **extra: Any) -> dict:  # type: ignore[no-untyped-def]
    return lam.create_function(FunctionName=name, Runtime="python3.13", Role=role_arn, Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": code})}, Timeout=30, **extra)


def with_secret(lam, name: str, secret: str, role_arn: str = ROLE) -> None:  # type: ignore[no-untyped-def]
    create(lam, name, role_arn, Environment={"Variables": {"API_TOKEN": secret}})


def listed(lam) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Every function ListFunctions shows (all pages), by name."""
    return {fn["FunctionName"]: fn for page in lam.get_paginator("list_functions").paginate()
            for fn in page["Functions"]}


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def wait_for(what: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.25)


def runs(server: Server, name: str) -> list[dict]:
    return native(server, "GET", f"/faas/v1/functions/{name}/logs?limit=100")["Invocations"]


# --- 5. environment variables -----------------------------------------------------------------------------


def test_a_principal_that_may_only_list_sees_names_but_no_variables(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    a, b = unique("app-a"), unique("app-b")
    secret_a, secret_b = f"token-{unique('a')}", f"token-{unique('b')}"
    with_secret(lam, a, secret_a)
    with_secret(lam, b, secret_b)

    lister = principal(server, [allow("lambda:ListFunctions", "*")])
    seen = listed(lambda_as(server, lister))
    assert {a, b} <= set(seen)
    assert seen[a]["FunctionArn"] == ARN + a and seen[a]["RevisionId"]
    assert "Environment" not in seen[a] and "Environment" not in seen[b]
    # Nowhere in the raw answer either.
    status, _, body = server.request("GET", "/2015-03-31/functions/?MaxItems=50", credentials=lister)
    assert status == 200 and a.encode() in body and b.encode() in body
    assert secret_a.encode() not in body and secret_b.encode() not in body
    assert error_of(lambda_as(server, lister).get_function_configuration, FunctionName=a) == \
        ("AccessDeniedException", 403)

    # Allowed GetFunctionConfiguration on app-a only: app-a's variables, and only those.
    one = lambda_as(server, principal(server, [allow("lambda:ListFunctions", "*"),
                                               allow("lambda:GetFunctionConfiguration", ARN + a)]))
    seen = listed(one)
    assert seen[a]["Environment"] == {"Variables": {"API_TOKEN": secret_a}}
    assert "Environment" not in seen[b]
    assert one.get_function_configuration(FunctionName=a)["Environment"]["Variables"] == {"API_TOKEN": secret_a}
    assert error_of(one.get_function_configuration, FunctionName=b) == ("AccessDeniedException", 403)

    # GetFunction keeps AWS's rule: lambda:GetFunction on the function shows them.
    getter = lambda_as(server, principal(server, [allow("lambda:GetFunction", ARN + b)]))
    assert getter.get_function(FunctionName=b)["Configuration"]["Environment"]["Variables"] == \
        {"API_TOKEN": secret_b}

    # Nothing stored was lost: the admin still reads both.
    seen = listed(lam)
    assert seen[a]["Environment"]["Variables"] == {"API_TOKEN": secret_a}
    assert seen[b]["Environment"]["Variables"] == {"API_TOKEN": secret_b}


def test_create_and_update_answers_show_variables_only_to_readers(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    team = unique("team")
    secret = f"token-{unique('t')}"
    writer = lambda_as(server, principal(server, [
        allow(["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode"],
              f"{ARN}{team}-*"),
        allow("iam:PassRole", ROLE)]))
    name = f"{team}-fn"

    created = create(writer, name, Environment={"Variables": {"API_TOKEN": secret}})
    assert created["FunctionName"] == name and "Environment" not in created
    # Changing something else must not hand back the variables it cannot read.
    updated = writer.update_function_configuration(FunctionName=name, Description="changed")
    assert updated["Description"] == "changed" and "Environment" not in updated
    recoded = writer.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": ECHO + "\n"}))
    assert recoded["CodeSha256"] != created["CodeSha256"] and "Environment" not in recoded
    assert error_of(writer.get_function_configuration, FunctionName=name) == ("AccessDeniedException", 403)

    stored = lam.get_function_configuration(FunctionName=name)
    assert stored["Environment"]["Variables"] == {"API_TOKEN": secret}
    assert stored["Description"] == "changed"
    # The admin, who may read them, gets them back from an update as before.
    assert lam.update_function_configuration(FunctionName=name, Timeout=10)["Environment"]["Variables"] == \
        {"API_TOKEN": secret}


def test_a_function_whose_role_may_only_list_sees_no_variables(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    victim, secret = unique("app-v"), f"token-{unique('v')}"
    with_secret(lam, victim, secret)
    lister_role = role(server, unique("list-only"), [allow("lambda:ListFunctions", "*")])
    inside = unique("app-inside")
    own_secret = f"token-{unique('own')}"
    create(lam, inside, lister_role, code=SIGNING_CALLER, Environment={"Variables": {"OWN": own_secret}})

    calls = {"list": ["GET", "/2015-03-31/functions/", None],  # the caller signs no query string
             "config": ["GET", f"/2015-03-31/functions/{victim}/configuration", None]}
    response = lam.invoke(FunctionName=inside, Payload=json.dumps({"calls": calls}).encode())
    out = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, out
    assert out["key_prefix"] == "ASIA"
    assert out["list"]["status"] == 200, out["list"]
    functions = {fn["FunctionName"]: fn for fn in json.loads(out["list"]["body"])["Functions"]}
    assert victim in functions and inside in functions
    assert all("Environment" not in fn for fn in functions.values())
    assert secret not in out["list"]["body"] and own_secret not in out["list"]["body"]
    assert (out["config"]["status"], out["config"]["error"]) == (403, "AccessDeniedException")
    assert secret not in out["config"]["body"]


# --- 6. asynchronous destinations -------------------------------------------------------------------------


def test_a_destination_the_role_may_not_invoke_is_refused_and_the_config_kept(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    app, sink, billing = unique("app-a"), unique("sink"), unique("billing-admin")
    app_role = role(server, unique("app-a-role"), [allow("lambda:InvokeFunction", f"{ARN}sink-*")])
    create(lam, app, app_role)
    create(lam, sink)
    create(lam, billing)
    # The attacker may configure app-a, and nothing else.
    owner = lambda_as(server, principal(server, [allow("lambda:*EventInvokeConfig*", ARN + app)]))

    before = owner.put_function_event_invoke_config(
        FunctionName=app, MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": ARN + sink}})
    assert before["DestinationConfig"] == {"OnFailure": {"Destination": ARN + sink}}

    for call in (owner.put_function_event_invoke_config, owner.update_function_event_invoke_config,
                 lam.put_function_event_invoke_config):  # the admin too: the role decides, not the caller
        with pytest.raises(ClientError) as refused:
            call(FunctionName=app, MaximumRetryAttempts=0,
                 DestinationConfig={"OnSuccess": {"Destination": ARN + billing}})
        error = refused.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == \
            ("InvalidParameterValueException", 400)
        assert "does not have permissions to call InvokeFunction" in error["Error"]["Message"]
        assert billing in error["Error"]["Message"]
    # A function of another account or region is no destination here either.
    with pytest.raises(ClientError) as foreign:
        owner.put_function_event_invoke_config(
            FunctionName=app, DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:lambda:{REGION}:"
                                                                             f"111111111111:function:{sink}"}})
    assert foreign.value.response["Error"]["Code"] == "InvalidParameterValueException"

    kept = owner.get_function_event_invoke_config(FunctionName=app)
    assert (kept["MaximumRetryAttempts"], kept["DestinationConfig"]) == \
        (1, {"OnFailure": {"Destination": ARN + sink}})

    # The destination's owner may let the role in with its function policy, as in AWS.
    lam.add_permission(FunctionName=billing, StatementId="from-app-a", Action="lambda:InvokeFunction",
                       Principal=app_role)
    accepted = owner.update_function_event_invoke_config(
        FunctionName=app, DestinationConfig={"OnSuccess": {"Destination": ARN + billing}})
    assert accepted["DestinationConfig"] == {"OnSuccess": {"Destination": ARN + billing},
                                             "OnFailure": {"Destination": ARN + sink}}


def test_a_destination_revoked_before_delivery_is_dropped_and_audited(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    app, sink = unique("app-r"), unique("sink")
    role_name = unique("app-r-role")
    app_role = role(server, role_name, [allow("lambda:InvokeFunction", ARN + sink)])
    create(lam, app, app_role)
    create(lam, sink)
    lam.put_function_event_invoke_config(FunctionName=app, DestinationConfig={"OnSuccess": {"Destination": ARN + sink}})

    # The event waits (throttled, not counted as an attempt) while the role loses the right.
    lam.put_function_concurrency(FunctionName=app, ReservedConcurrentExecutions=0)
    request_id = lam.invoke(FunctionName=app, InvocationType="Event", Payload=b'{"pay": "me"}')[
        "ResponseMetadata"]["RequestId"]
    native(server, "DELETE", f"/faas/v1/roles/{role_name}/policies/main", expect=204)
    lam.delete_function_concurrency(FunctionName=app)

    query = urllib.parse.urlencode({"principal": app_role, "action": "lambda:InvokeFunction", "limit": "100"})
    [entry] = wait_for(lambda: native(server, "GET", f"/faas/v1/audit?{query}")["Entries"], 60,
                       "the refused delivery in the audit log")
    assert (entry["Resource"], entry["Outcome"], entry["Status"], entry["RequestId"]) == \
        (ARN + sink, "denied", 403, request_id)
    ran = wait_for(lambda: runs(server, app), 10, "the source's invocation record")
    assert [(r["RequestId"], r["Outcome"]) for r in ran] == [(request_id, "success")]
    assert "dropped the Success destination record of " + app in server.output()
    time.sleep(1.5)  # a delivery, had one been queued, would have run by now
    assert runs(server, sink) == []
    # The source's configuration is untouched: the right can be given back.
    assert lam.get_function_event_invoke_config(FunctionName=app)["DestinationConfig"] == \
        {"OnSuccess": {"Destination": ARN + sink}}
