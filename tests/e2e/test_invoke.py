"""Invoking functions in real Docker containers through boto3 and a real `faas serve`."""

from __future__ import annotations

import base64
import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, make_zip, unique

pytestmark = pytest.mark.docker

CONTEXT_APP = '''
import json, os, sys, time

def handler(event, context):
    print("hello from the handler")
    print("to stderr", file=sys.stderr)
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "MY_"))},
        "uid": os.getuid(),
    }
'''


def deploy(lam, code: dict[str, str], handler: str = "app.handler", **extra) -> str:  # type: ignore[no-untyped-def]
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip(code)}, **extra)
    return name


def call(lam, name: str, payload: object = None, tail: bool = True) -> tuple[dict, object, str]:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload if payload is not None else {}).encode(),
                          LogType="Tail" if tail else "None")
    body = json.loads(response["Payload"].read())
    log = base64.b64decode(response["LogResult"]).decode() if tail else ""
    return response, body, log


def test_invoke_returns_result_context_env_and_log_lines(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": CONTEXT_APP}, MemorySize=256, Timeout=7,
                  Environment={"Variables": {"MY_SETTING": "on"}})
    response, body, log = call(lam, name, {"name": "faas"})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"name": "faas"}
    assert body["function_name"] == name and body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert body["memory_limit_in_mb"] in ("256", 256)
    assert body["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", body["log_stream_name"])
    assert 0 < body["remaining"] <= 7000
    env = body["env"]
    assert env["_HANDLER"] == "app.handler" and env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST" and env["AWS_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["log_stream_name"]
    assert re.fullmatch(r"[\d.]+:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["MY_SETTING"] == "on"
    assert "AWS_LAMBDA_MAX_CONCURRENCY" not in env
    assert body["uid"] != 0

    request_id = body["aws_request_id"]
    lines = log.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "hello from the handler" in log and "to stderr" in log
    assert f"END RequestId: {request_id}" in lines
    report = next(line for line in lines if line.startswith("REPORT"))
    match = re.match(
        rf"REPORT RequestId: {request_id}\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms\t"
        r"Memory Size: 256 MB\tMax Memory Used: (\d+) MB\tInit Duration: ([\d.]+) ms\t$", report)
    assert match, report
    duration, billed, used = float(match[1]), int(match[2]), int(match[3])
    assert billed % 100 == 0 and billed >= duration and billed - duration <= 100
    assert 0 < used <= 256

    _, second, log2 = call(lam, name, {"n": 2})
    assert second["event"] == {"n": 2}
    assert "Init Duration" not in log2  # warm: the same environment served it
    assert second["env"]["AWS_LAMBDA_LOG_STREAM_NAME"] == body["log_stream_name"]


def test_handler_error_is_unhandled_function_error(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "def handler(e, c):\n    raise ValueError('bad input: ' + e['x'])\n"})
    response, body, log = call(lam, name, {"x": "boom"})
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input: boom"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert "ValueError" in log
    # the environment survives a handled-by-runtime error
    response, body, _ = call(lam, name, {"x": "again"})
    assert body["errorMessage"] == "bad input: again"


@pytest.mark.parametrize("code,handler,error_type", [
    ({"app.py": "import not_a_module_anywhere\n"}, "app.handler", "Runtime.ImportModuleError"),
    ({"other.py": "x = 1\n"}, "app.handler", "Runtime.ImportModuleError"),
    ({"app.py": "def handler(e, c):\n    return 1\n"}, "app.missing", "Runtime.HandlerNotFound"),
    ({"app.py": "def handler(e, c)\n    return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError"),
    ({"app.py": "x = 1\n"}, "nodot", "Runtime.MalformedHandlerName"),
], ids=["import", "no-module", "handler-missing", "syntax", "malformed"])
def test_bad_handlers_give_runtime_errors(lam, code, handler, error_type) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, code, handler=handler)
    response, body, log = call(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type, body
    assert error_type in log or body["errorMessage"] in log


def test_timeout_stops_environment_and_reports(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('s', 0))\n    return 'ok'\n"},
                  Timeout=1)
    response, body, log = call(lam, name, {"s": 5})
    assert response["FunctionError"] == "Unhandled"
    assert re.fullmatch(r"\S+ [0-9a-f-]{36} Task timed out after 1\.00 seconds", body["errorMessage"])
    assert "Task timed out after 1.00 seconds" in log
    assert "Billed Duration: 1000 ms" in log
    _, body, log = call(lam, name, {"s": 0})  # a fresh environment serves the next call
    assert body == "ok" and "Init Duration" in log


def test_out_of_memory_is_runtime_exit_error(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "def handler(e, c):\n    blocks = []\n    while True:\n"
                                  "        blocks.append(bytearray(16 * 1024 * 1024))\n"}, MemorySize=128, Timeout=20)
    response, body, log = call(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error" in body["errorMessage"]
    assert "Runtime.ExitError" in log


def test_payload_over_6mb_refused(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "def handler(e, c):\n    return len(e)\n"})
    big = json.dumps({"blob": "x" * (6 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=big)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err.value.response["Error"]["Code"] == "RequestTooLargeException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    response, body, _ = call(lam, name, {"a": 1})
    assert body == 1


def test_response_over_6mb_is_function_error(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n"})
    response, body, _ = call(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_unknown_function_and_dry_run(lam) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=unique("nobody"), Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    name = deploy(lam, {"app.py": "def handler(e, c):\n    return 1\n"})
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204


def test_new_code_serves_after_update(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "def handler(e, c):\n    return 'v1'\n"})
    assert call(lam, name)[1] == "v1"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    assert call(lam, name)[1] == "v2"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MY_X": "1"}})
    assert call(lam, name)[1] == "v2"


def test_invocations_are_recorded_with_logs(server, lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"app.py": "def handler(e, c):\n    print('recorded', e['i'])\n    return e['i']\n"})
    for i in range(3):
        call(lam, name, {"i": i}, tail=False)
    import time
    deadline = time.monotonic() + 10
    while True:
        records = server.get_json(f"/faas/v1/functions/{name}/logs?limit=10")["Invocations"]
        if len(records) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(records) == 3
    assert [r["Cold"] for r in records] == [True, False, False]
    for i, record in enumerate(records):
        assert record["Outcome"] == "success"
        assert record["BilledDurationMs"] % 100 == 0 and record["BilledDurationMs"] >= record["DurationMs"]
        assert f"recorded {i}" in record["Log"] and record["Log"].startswith("START RequestId: ")
