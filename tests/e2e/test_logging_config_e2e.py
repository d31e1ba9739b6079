"""LoggingConfig through boto3 against a real `faas serve`: LogFormat JSON makes Python's logging and Node's
console write AWS's JSON objects filtered by ApplicationLogLevel, START/END/REPORT become platform.start and
platform.report records, Text stays as it was, and levels with Text are refused as AWS refuses them."""

from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_cli_e2e import LOG_BATCH_WAIT_S, faas

pytestmark = pytest.mark.docker

PYTHON = make_zip({"app.py": """
import logging

def handler(event, context):
    print("printed")
    logging.info("info: dropped below WARN")
    logging.warning("warned %s", event["n"])
    return event
"""})
NODE = make_zip({"index.js": """
exports.handler = async (event) => {
    console.info('info: dropped below WARN');
    console.warn('warned %d', event.n);
    return event;
};
"""})
JSON_WARN = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}


def invoke(lam, name: str, n: int) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}), LogType="Tail")
    assert "FunctionError" not in answer, answer["Payload"].read()
    return answer["ResponseMetadata"]["RequestId"], base64.b64decode(answer["LogResult"]).decode().splitlines()


def records(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def assert_json_log(lines: list[str], request_id: str, n: int) -> None:
    start, warning, report = records(lines)
    assert start["type"] == "platform.start" and start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert (warning["level"], warning["message"], warning["requestId"]) == ("WARN", f"warned {n}", request_id)
    assert report["type"] == "platform.report" and report["record"]["requestId"] == request_id
    assert set(report["record"]["metrics"]) >= {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"}
    assert not any("dropped below WARN" in line or line.startswith(("START", "END", "REPORT")) for line in lines)


def test_python_json_logs_in_tail_and_faas_logs(server: Server, lam, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = unique("jsonpy")
    created = lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": PYTHON}, LoggingConfig=JSON_WARN)
    assert created["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
                                        "LogGroup": f"/aws/lambda/{name}"}
    request_id, lines = invoke(lam, name, 1)
    assert "printed" in lines  # print() output stays as it is, as on AWS
    assert_json_log(lines, request_id, 1)

    deadline = time.monotonic() + LOG_BATCH_WAIT_S
    while request_id not in (logs := faas(server.data_dir, tmp_path, "logs", name)).stdout:
        assert time.monotonic() < deadline, f"the invocation never showed in `faas logs`:\n{logs}"
        time.sleep(0.3)
    assert_json_log(logs.stdout.splitlines(), request_id, 1)


def test_node_json_logs(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("jsonnode")
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": NODE}, LoggingConfig=JSON_WARN)
    request_id, lines = invoke(lam, name, 2)
    assert_json_log(lines, request_id, 2)


def test_update_switches_formats_and_text_stays_as_before(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("switch")
    created = lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": PYTHON})
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    request_id, lines = invoke(lam, name, 3)
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t") and not records(lines)
    assert any(line.startswith("[WARNING]\t") and line.endswith("\twarned 3") for line in lines)

    updated = lam.update_function_configuration(FunctionName=name, LoggingConfig=JSON_WARN)
    assert updated["LoggingConfig"]["LogFormat"] == "JSON"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    request_id, lines = invoke(lam, name, 4)
    assert_json_log(lines, request_id, 4)

    # SystemLogLevel WARN drops the platform's INFO records; the levels kept are the function's.
    updated = lam.update_function_configuration(FunctionName=name, LoggingConfig={"SystemLogLevel": "WARN"})
    assert updated["LoggingConfig"]["ApplicationLogLevel"] == "WARN"
    request_id, lines = invoke(lam, name, 5)
    assert [r.get("type", r.get("level")) for r in records(lines)] == ["WARN"]

    back = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    assert back["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    request_id, lines = invoke(lam, name, 6)
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST" and not records(lines)


def test_levels_with_text_are_refused_and_change_nothing(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("textlevels")
    with pytest.raises(ClientError) as refused:
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": PYTHON}, LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "WARN"})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "LogFormat JSON" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"  # nothing was created
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": PYTHON}, LoggingConfig=JSON_WARN)
    with pytest.raises(ClientError) as refused:
        lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text",
                                                                             "SystemLogLevel": "DEBUG"})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogFormat"] == "JSON"
