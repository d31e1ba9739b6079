"""What `faas serve` writes to stderr, read from a real server: an access-log line per request (text or JSON,
FAAS_LOG_FORMAT), warnings for function failures, throttles, async retries and drops, a short start-up, and
FAAS_LOG_LEVEL filtering it all. No secret (keys, headers, bodies, query strings) reaches the log."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique, wait_for

pytestmark = pytest.mark.docker

FAILING = make_zip({"app.py": "def handler(event, context):\n    raise ValueError('secret-payload-' + event['k'])\n"})
OK = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
# remote - principal [time] "METHOD path HTTP/x.y" status bytes duration operation request-id
ACCESS = re.compile(r'^(\S+) - (\S+) \[[^\]]+\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+) ([\d.]+)ms (\S+) (\S+)$')


def access_lines(server: Server) -> list[tuple[str, ...]]:
    return [m.groups() for line in server.output().splitlines() if (m := ACCESS.match(line))]


def unsigned_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code


def create(lam, name: str, code: bytes) -> None:  # type: ignore[no-untyped-def]
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": code})


@pytest.fixture(scope="module")
def text_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("log") / "data", extra_env={"FAAS_ASYNC_RETRY_BASE_S": "1"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(text_server: Server):  # type: ignore[no-untyped-def]
    return text_server.client()  # one client for the module: a client per test leaves sockets to the GC


def test_startup_is_short_and_says_where_it_is(text_server: Server) -> None:
    startup = text_server.output().split("ready at")[0].splitlines()
    assert len(startup) <= 6, startup
    assert not any("alembic" in line for line in startup), startup


def test_one_access_line_per_request_with_operation_principal_and_request_id(text_server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("logged")
    create(lam, name, OK)
    answer = lam.invoke(FunctionName=name, Payload=b'{"k": "body-not-logged"}')
    request_id = answer["ResponseMetadata"]["RequestId"]
    admin = text_server.credentials()
    assert unsigned_get(text_server.endpoint + "/2015-03-31/functions/?secret-query=token-not-logged") == 403

    lines = wait_for(lambda: [line for line in access_lines(text_server) if line[8] == request_id])
    remote, principal, method, path, status_text, _, duration, operation, _ = lines[0]
    assert len(lines) == 1
    assert (remote, method, path, status_text, operation) == (
        "127.0.0.1", "POST", f"/2015-03-31/functions/{name}/invocations", "200", "lambda:InvokeFunction")
    assert principal.startswith("arn:aws:iam::") and float(duration) >= 0
    refused = wait_for(lambda: [line for line in access_lines(text_server)
                                if line[3] == "/2015-03-31/functions/" and line[4] == "403"])
    assert refused[0][1] == "-" and refused[0][7] == "lambda:ListFunctions"
    output = text_server.output()
    for secret in (admin.secret_access_key, admin.access_key_id, "token-not-logged", "body-not-logged",
                   "Authorization", "Signature="):
        assert secret not in output, secret


def test_an_aws_iam_function_url_request_names_its_principal(text_server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("urllog")
    create(lam, name, make_zip({"app.py": "def handler(event, context):\n    return {'statusCode': 200}\n"}))
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    status, headers, _ = text_server.request("GET", f"/lambda-url/{url_id}/hello")
    assert status == 200
    request_id = headers["x-amzn-RequestId"]
    [line] = wait_for(lambda: [line for line in access_lines(text_server) if line[8] == request_id])
    assert line[1].startswith("arn:aws:iam::") and line[3] == f"/lambda-url/{url_id}/hello"
    assert line[7] == "lambda:InvokeFunctionUrl"


def test_function_failure_and_throttle_are_warnings(text_server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    failing, throttled = unique("fails"), unique("throttled")
    create(lam, failing, FAILING)
    answer = lam.invoke(FunctionName=failing, Payload=b'{"k": "x"}')
    assert answer["FunctionError"] == "Unhandled"
    request_id = answer["ResponseMetadata"]["RequestId"]
    wait_for(lambda: f"WARNING faas.dispatch.invoker: function {failing} failed (request {request_id}): "
                     "ValueError" in text_server.output())
    assert "secret-payload" not in text_server.output()  # the error's message is the function's, not the log's

    create(lam, throttled, OK)
    lam.put_function_concurrency(FunctionName=throttled, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=throttled, Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    wait_for(lambda: f"WARNING faas.dispatch.invoker: throttled an invocation of {throttled}: "
                     "ReservedFunctionConcurrentInvocationLimitExceeded" in text_server.output())
    for _ in range(5):  # a burst of throttles: counted, not one line each (faas.server_log.Repeated)
        with pytest.raises(ClientError):
            lam.invoke(FunctionName=throttled, Payload=b"{}")
    lam.list_functions()  # a request after the burst, whose access line shows the log has caught up
    request_id = lam.list_functions()["ResponseMetadata"]["RequestId"]
    wait_for(lambda: request_id in text_server.output())
    assert text_server.output().count(f"throttled an invocation of {throttled}:") == 1


def test_async_retries_and_the_final_drop_are_warnings(text_server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("asyncfail")
    create(lam, name, FAILING)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    request_id = lam.invoke(FunctionName=name, InvocationType="Event",
                            Payload=b'{"k": "x"}')["ResponseMetadata"]["RequestId"]
    wait_for(lambda: f"asynchronous invocation {request_id} of {name} failed (attempt 1 of 2); retrying in 1 s"
                     in text_server.output())
    wait_for(lambda: f"asynchronous invocation {request_id} of {name} failed its 2 attempts: dropped"
                     in text_server.output())


def test_json_format_writes_only_json_objects(tmp_path) -> None:
    server = Server(tmp_path / "data", extra_env={"FAAS_LOG_FORMAT": "json"}).start()
    try:
        lam = server.client()
        request_id = lam.list_functions()["ResponseMetadata"]["RequestId"]
        records = wait_for(lambda: [json.loads(line) for line in server.output().splitlines()
                                    if request_id in line])
    finally:
        assert server.stop() == 0
    access = records[0]
    assert access["logger"] == "faas.access" and access["level"] == "info"
    assert (access["method"], access["path"], access["status"], access["operation"]) == (
        "GET", "/2015-03-31/functions", 200, "lambda:ListFunctions")
    assert access["principal"].startswith("arn:aws:iam::") and access["duration_ms"] >= 0
    lines = server.output().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line, start-up and stop included
    assert any(r["logger"] == "faas.serve" and r["message"].startswith("ready at ") for r in parsed)
    assert parsed[-1]["message"] == "stopped"


def test_log_level_warning_keeps_only_warnings(tmp_path) -> None:
    server = Server(tmp_path / "data", extra_env={"FAAS_LOG_LEVEL": "warning"}).start()
    try:
        lam = server.client()
        name = unique("quiet")
        create(lam, name, FAILING)
        request_id = lam.invoke(FunctionName=name, Payload=b'{"k": "x"}')["ResponseMetadata"]["RequestId"]
        wait_for(lambda: f"function {name} failed (request {request_id})" in server.output())
    finally:
        assert server.stop() == 0
    output = server.output()
    assert access_lines(server) == [] and "ready at" not in output and "INFO" not in output, output
