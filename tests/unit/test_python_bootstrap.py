"""The python3.13 bootstrap, run on the host as a subprocess against a fake Runtime API."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.fake_runtime_api import FakeRuntimeApi, ScriptedServer

BOOTSTRAP = Path(__file__).resolve().parents[2] / "runtimes" / "python3.13" / "bootstrap.py"

APP = """
import logging, os, subprocess, sys

def handler(event, context):
    return event
"""


def write_code(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def function_env(handler: str = "app.handler") -> dict[str, str]:
    return {
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/02/[$LATEST]0123456789abcdef0123456789abcdef",
    }


def run_bootstrap(api: FakeRuntimeApi | None, task_root: Path, handler: str = "app.handler", *,
                  env: dict[str, str] | None = None, wait: bool = True, address: str | None = None,
                  prewarmed: bool = False):
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": address or api.address,
        "LAMBDA_TASK_ROOT": str(task_root),
        "PYTHONDONTWRITEBYTECODE": "1",
        **({"FAAS_PREWARMED": "1"} if prewarmed else function_env(handler)),
        **(env or {}),
    }
    # stdout and stderr: the fake Runtime API's pipe, as the platform's in a container
    output = api.output_fd if api is not None else subprocess.PIPE
    process = subprocess.Popen([sys.executable, str(BOOTSTRAP)], env=environment, cwd=task_root,
                               stdout=output, stderr=output)
    if not wait:
        return process
    return finish(process)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture
def api():
    with FakeRuntimeApi() as fake:
        yield fake


# --- invocations ------------------------------------------------------------------------------

def test_round_trip_carries_event_and_context(api, tmp_path):
    write_code(tmp_path, {"app.py": """
        import os

        def handler(event, context):
            return {
                "event": event,
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
                "client_context": None if context.client_context is None else
                    [context.client_context.custom, context.client_context.client.app_title],
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            }
    """})
    first = api.add({"hello": "wörld", "n": [1, 2]}, headers={
        "Lambda-Runtime-Trace-Id": "Root=1-abc",
        "Lambda-Runtime-Client-Context": json.dumps({"custom": {"k": "v"}, "client": {"app_title": "t"}}),
        "Lambda-Runtime-Cognito-Identity": json.dumps({"cognitoIdentityId": "id-1",
                                                       "cognitoIdentityPoolId": "pool-1"}),
    })
    second = api.add({}, deadline_ms=int(time.time() * 1000) - 5_000)

    result = run_bootstrap(api, tmp_path)

    assert result.returncode == 1  # the fake ran out of events: /next answered 500
    responses = api.posts("/response")
    assert [c.path for c in responses] == [f"/invocation/{first.request_id}/response",
                                           f"/invocation/{second.request_id}/response"]
    assert responses[0].headers["Content-Type"] == "application/json"
    body = responses[0].json()
    assert body["event"] == {"hello": "wörld", "n": [1, 2]}
    assert body["aws_request_id"] == first.request_id
    assert body["function_name"] == "fn"
    assert body["function_version"] == "$LATEST"
    assert body["memory_limit_in_mb"] == "256"  # a string, as in AWS's client
    assert body["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert body["log_group_name"] == "/aws/lambda/fn"
    assert body["log_stream_name"].startswith("2024/01/02/[$LATEST]")
    assert 20_000 < body["remaining"] <= 30_000
    assert body["identity"] == ["id-1", "pool-1"]
    assert body["client_context"] == [{"k": "v"}, "t"]
    assert body["trace"] == "Root=1-abc"
    later = responses[1].json()
    assert later["remaining"] == 0  # the deadline has passed: never negative
    assert later["trace"] is None and later["client_context"] is None
    assert later["identity"] == [None, None]
    assert "faas bootstrap: GET /invocation/next answered 500" in api.take_output()


@pytest.mark.parametrize("handler", ["pkg/sub.mod.handler", "pkg.sub.mod.handler"])
def test_handler_module_may_be_a_path_or_dotted(api, tmp_path, handler):
    write_code(tmp_path, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "",
                          "pkg/sub/mod.py": "def handler(event, context):\n    return 'deep'\n"})
    api.add({})
    run_bootstrap(api, tmp_path, handler)
    assert api.posts("/response")[0].json() == "deep"


def test_none_result_is_null(api, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return None\n"})
    api.add({})
    run_bootstrap(api, tmp_path)
    assert api.posts("/response")[0].body == b"null"


def test_handler_exception_is_posted_as_error_and_logged(api, tmp_path):
    write_code(tmp_path, {"app.py": """
        def helper():
            raise ValueError("boom")

        def handler(event, context):
            helper()
    """})
    event = api.add({})
    run_bootstrap(api, tmp_path)

    [error] = api.posts("/error")
    assert error.path == f"/invocation/{event.request_id}/error"
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "ValueError"
    body = error.json()
    assert body["errorMessage"] == "boom"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == event.request_id
    app = str(tmp_path / "app.py")
    assert body["stackTrace"] == [
        f'  File "{app}", line 6, in handler\n    helper()\n',
        f'  File "{app}", line 3, in helper\n    raise ValueError("boom")\n',
    ]
    log = error.output
    assert log.startswith("[ERROR] ValueError: boom\nTraceback (most recent call last):\n")
    assert 'raise ValueError("boom")' in log
    assert not api.posts("/response")
    # the environment lives on after a handled error
    assert [c.path for c in api.calls if c.method == "GET"] == ["/invocation/next"] * 2


def test_unserialisable_result_is_a_marshal_error(api, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return {'s': {1, 2}}\n"})
    event = api.add({})
    run_bootstrap(api, tmp_path)
    body = api.posts("/error")[0].json()
    assert body == {"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
                    "errorType": "Runtime.MarshalError", "requestId": event.request_id, "stackTrace": []}
    assert "[ERROR] Runtime.MarshalError: Unable to marshal response" in api.posts("/error")[0].output


def test_empty_json_body_is_an_unmarshal_error_as_in_awslambdaric(api, tmp_path):
    write_code(tmp_path, {"app.py": APP})
    api.add(b"")
    run_bootstrap(api, tmp_path)
    body = api.posts("/error")[0].json()
    assert body["errorType"] == "Runtime.UnmarshalError"
    assert body["errorMessage"].startswith("Unable to unmarshal input: Expecting value")


def test_non_json_event_is_passed_as_bytes_and_bytes_are_returned_raw(api, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return b'<' + event + b'>'\n"})
    api.add(b"raw data", headers={"Content-Type": "application/octet-stream"})
    run_bootstrap(api, tmp_path)
    [response] = api.posts("/response")
    assert response.body == b"<raw data>"
    assert response.headers["Content-Type"] == "application/unknown"


def test_decimals_and_unicode_are_encoded_like_awslambdaric(api, tmp_path):
    write_code(tmp_path, {"app.py": """
        from decimal import Decimal

        def handler(event, context):
            return {"int": Decimal("3"), "frac": Decimal("1.5"), "text": "ünï"}
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    [response] = api.posts("/response")
    assert response.body == '{"int": 3, "frac": 1.5, "text": "ünï"}'.encode()


# --- init errors ------------------------------------------------------------------------------

@pytest.mark.parametrize(("handler", "code", "error_type", "message"), [
    ("app.handler", "import x\n", "Runtime.ImportModuleError",
     "Unable to import module 'app': No module named 'x'"),
    ("missing.handler", None, "Runtime.ImportModuleError",
     "Unable to import module 'missing': No module named 'missing'"),
    ("app.nope", "def handler(e, c):\n    pass\n", "Runtime.HandlerNotFound",
     "Handler 'nope' missing on module 'app'"),
    ("x", None, "Runtime.MalformedHandlerName",
     "Bad handler 'x': not enough values to unpack (expected 2, got 1)"),
    ("app.handler", "def handler(:\n", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app': "),
    ("sys.handler", None, "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"),
])
def test_init_failures_have_awslambdaric_error_types(api, tmp_path, handler, code, error_type, message):
    if code is not None:
        write_code(tmp_path, {"app.py": "print('starting up')\n" + code})
    api.add({})
    result = run_bootstrap(api, tmp_path, handler)

    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/init/error"]  # never asked for /next
    [error] = api.calls
    body = error.json()
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)
    assert body["requestId"] == ""
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == error_type
    log = error.output
    assert f"[ERROR] {error_type}: {message}" in log
    if code is not None and error_type != "Runtime.UserCodeSyntaxError":
        assert log.startswith("starting up\n")  # output of the import itself is kept
    if error_type == "Runtime.UserCodeSyntaxError":
        assert body["stackTrace"][0].startswith(f'  File "{tmp_path / "app.py"}" Line 2')


def test_exception_during_import_keeps_its_type_and_user_frames(api, tmp_path):
    write_code(tmp_path, {"app.py": "raise KeyError('config')\n"})
    result = run_bootstrap(api, tmp_path)
    assert result.returncode == 1
    body = api.posts("/init/error")[0].json()
    assert body["errorType"] == "KeyError"
    assert body["errorMessage"] == "'config'"
    assert body["stackTrace"] == [f'  File "{tmp_path / "app.py"}", line 1, in <module>\n'
                                  "    raise KeyError('config')\n"]


# --- output -----------------------------------------------------------------------------------

def test_print_logging_and_child_processes_are_written_before_the_response(api, tmp_path):
    write_code(tmp_path, {"app.py": """
        import logging, os, subprocess, sys
        print("during init")

        def handler(event, context):
            if event.get("quiet"):
                return "quiet"
            print("printed", event["n"])
            print("to stderr", file=sys.stderr)
            logging.getLogger("x").warning("careful %s", event["n"])
            logging.info("not shown: the root logger is at WARNING, as on AWS")
            subprocess.run(["sh", "-c", "echo child out; echo child err >&2"], check=True)
            os.write(1, b"raw fd write\\n")
            return "done"
    """})
    first, second, quiet = api.add({"n": 1}), api.add({"n": 2}), api.add({"quiet": True})
    run_bootstrap(api, tmp_path)

    posts = [c.path for c in api.posts()]
    assert posts == [f"/invocation/{first.request_id}/response", f"/invocation/{second.request_id}/response",
                     f"/invocation/{quiet.request_id}/response"]
    first_log, second_log, quiet_log = (c.output for c in api.posts())
    lines = first_log.splitlines()
    assert lines[:3] == ["during init", "printed 1", "to stderr"]
    level, timestamp, request_id, message = lines[3].split("\t")
    assert (level, request_id, message) == ("[WARNING]", first.request_id, "careful 1")
    assert time.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert lines[4:] == ["child out", "child err", "raw fd write"]
    assert second_log.startswith("printed 2\n")  # only what this invocation wrote
    assert "during init" not in second_log and "not shown" not in second_log
    assert quiet_log == ""


def test_log_level_comes_from_aws_lambda_log_level(api, tmp_path):
    write_code(tmp_path, {"app.py": "import logging\ndef handler(e, c):\n    logging.info('shown')\n"})
    api.add({})
    run_bootstrap(api, tmp_path, env={"AWS_LAMBDA_LOG_LEVEL": "INFO"})
    assert "[INFO]\t" in api.posts("/response")[0].output


def test_a_partial_line_is_flushed_before_the_response(api, tmp_path):
    write_code(tmp_path, {"app.py": """
        import sys
        def handler(event, context):
            sys.stdout.write("no newline")
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    assert api.posts("/response")[0].output == "no newline"


def test_sigterm_during_an_invocation_flushes_its_output_and_exits(api, tmp_path):
    started = tmp_path / "started"
    write_code(tmp_path, {"app.py": f"""
        import pathlib, time

        def handler(event, context):
            print("working on it")
            pathlib.Path({str(started)!r}).touch()
            time.sleep(60)
    """})
    api.add({})
    process = run_bootstrap(api, tmp_path, wait=False)
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert time.monotonic() < deadline, "the handler never started"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        process.kill()
        process.communicate()
    assert not api.posts()
    assert api.take_output() == "working on it\n"


# --- the Runtime API connection ---------------------------------------------------------------

def test_exits_non_zero_when_the_runtime_api_is_unreachable(tmp_path):
    write_code(tmp_path, {"app.py": APP})
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = run_bootstrap(None, tmp_path, address=f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert b"faas bootstrap: GET /invocation/next" in result.stderr


def unused_address() -> str:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{unused.getsockname()[1]}"


# --- prewarmed start --------------------------------------------------------------------------

def test_prewarmed_start_waits_for_specialize_then_serves_the_function(api, tmp_path):
    libs = tmp_path / "libs"
    event = api.add({"n": 1})
    process = run_bootstrap(api, tmp_path, prewarmed=True, wait=False)
    try:
        api.wait_for_call("GET", "/faas/specialize")
        time.sleep(0.1)
        assert [c.path for c in api.calls] == ["/faas/specialize"]  # nothing else until bound
        # The platform fills /var/task only now, as it does on the host for a bind mount.
        write_code(tmp_path, {
            "libs/helper.py": "GREETING = 'from PYTHONPATH'\n",
            "app.py": """
                import logging, os
                import helper
                print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])

                def handler(event, context):
                    logging.info("info is on")
                    return {"event": event, "function_name": context.function_name,
                            "memory": context.memory_limit_in_mb, "from_env": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                            "custom": os.environ["GREETING"], "helper": helper.GREETING,
                            "prewarmed": os.environ.get("FAAS_PREWARMED")}
            """})
        api.specialize({**function_env(), "GREETING": "hello", "AWS_LAMBDA_LOG_LEVEL": "INFO",
                        "PYTHONPATH": str(libs)})
        result = finish(process)
    finally:
        process.kill()
    assert result.returncode == 1  # out of events
    [response] = api.posts("/response")
    assert response.path == f"/invocation/{event.request_id}/response"
    assert response.json() == {"event": {"n": 1}, "function_name": "fn", "memory": "256", "from_env": "fn",
                               "custom": "hello", "helper": "from PYTHONPATH", "prewarmed": None}
    log = response.output
    assert log.startswith("init of fn\n")
    assert "[INFO]\t" in log  # the function's AWS_LAMBDA_LOG_LEVEL applies


def test_prewarmed_start_exits_when_specialize_is_refused(api, tmp_path):
    api.specialize(status=500)
    result = run_bootstrap(api, tmp_path, prewarmed=True)
    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/faas/specialize"]
    assert api.take_output() == "faas bootstrap: GET /faas/specialize answered 500: " \
        "b'{\"errorType\":\"Forbidden\",\"errorMessage\":\"not a prewarmed environment\"}'\n"


@pytest.mark.parametrize("body", [b"not json", b'{"env": {}}', b'{"environment": {"A": 1}}', b'{"environment": []}'])
def test_prewarmed_start_exits_when_specialize_answers_nonsense(api, tmp_path, body):
    api.specialize(body=body)
    result = run_bootstrap(api, tmp_path, prewarmed=True)
    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/faas/specialize"]
    assert "faas bootstrap: GET /faas/specialize: expected" in api.take_output()


def test_prewarmed_start_exits_when_the_runtime_api_is_unreachable(tmp_path):
    result = run_bootstrap(None, tmp_path, prewarmed=True, address=unused_address())
    assert result.returncode == 1
    assert b"faas bootstrap: GET /faas/specialize" in result.stderr


def test_prewarmed_start_keeps_one_connection_from_specialize_on(tmp_path):
    write_code(tmp_path, {"app.py": APP})
    environment = json.dumps({"environment": function_env()}).encode()
    server = ScriptedServer([
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(environment), environment),
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
    ])
    result = run_bootstrap(None, tmp_path, prewarmed=True, address=server.address)
    server.close()
    assert result.returncode == 1
    assert [r.split(b" ")[1] for r in server.requests] == [b"/2018-06-01/runtime/faas/specialize",
                                                          b"/2018-06-01/runtime/invocation/next"]
    assert server.connections == 1


def test_init_error_after_specialize_goes_to_init_error(api, tmp_path):
    api.specialize(function_env("missing.handler"))
    result = run_bootstrap(api, tmp_path, prewarmed=True)
    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/faas/specialize", "/init/error"]
    assert api.posts("/init/error")[0].json()["errorType"] == "Runtime.ImportModuleError"


def load_bootstrap_module():
    spec = importlib.util.spec_from_file_location("faas_python_bootstrap", BOOTSTRAP)
    module = importlib.util.module_from_spec(spec)
    dont_write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write_bytecode
    return module


@pytest.fixture
def bootstrap():
    return load_bootstrap_module()


def test_client_reads_chunked_bodies_and_honours_connection_close(bootstrap):
    server = ScriptedServer([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        b"HTTP/1.1 202\r\n\r\nbody until close",
    ])
    client = bootstrap.RuntimeApi(server.address)
    assert client.call("GET", "/a") == (200, {"transfer-encoding": "chunked", "x-a": "1"}, b"hello world")
    status, _, body = client.call("POST", "/b", b"{}", {"Content-Type": "application/json"})
    assert (status, body) == (202, b"ok")
    assert client.call("POST", "/c", b"x")[2] == b"body until close"
    assert server.connections == 2
    assert server.requests[1].startswith(b"POST /2018-06-01/runtime/b HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in server.requests[1]
    assert server.requests[1].endswith(b"\r\n\r\n{}")
    client.close()
    server.close()


def test_client_retries_once_on_a_kept_alive_connection_the_server_closed(bootstrap):
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    server = ScriptedServer([ok, None, ok])
    client = bootstrap.RuntimeApi(server.address)
    assert client.call("GET", "/one")[0] == 200
    assert client.call("GET", "/two")[0] == 200  # first try hit the closed connection
    assert server.connections == 2
    client.close()
    server.close()


def test_client_does_not_retry_a_fresh_connection(bootstrap):
    server = ScriptedServer([None])
    client = bootstrap.RuntimeApi(server.address)
    with pytest.raises(bootstrap.RuntimeApiError):
        client.call("GET", "/invocation/next")
    client.close()
    server.close()


def test_json_log_format_writes_records_as_json_objects_filtered_by_level(api, tmp_path):
    write_code(tmp_path, {"app.py": """
        import logging
        def handler(e, c):
            print("plain print")
            logging.info("below WARN: dropped")
            logging.getLogger("mine").warning("careful %s", 1)
            try:
                raise ValueError("bad")
            except ValueError:
                logging.exception("failed")
    """})
    invocation = api.add({})
    run_bootstrap(api, tmp_path, env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"})
    lines = api.posts("/response")[0].output.splitlines()
    assert lines[0] == "plain print"  # stdout is left as it is, as on AWS
    warning, error = (json.loads(line) for line in lines[1:])
    assert {k: warning[k] for k in ("level", "message", "logger", "requestId")} == {
        "level": "WARN", "message": "careful 1", "logger": "mine", "requestId": invocation.request_id}
    assert time.strptime(warning["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert (error["level"], error["errorType"], error["errorMessage"]) == ("ERROR", "ValueError", "bad")
    assert "below WARN" not in "".join(lines)


def test_json_log_format_defaults_to_info(api, tmp_path):
    write_code(tmp_path, {"app.py": "import logging\ndef handler(e, c):\n    logging.debug('no')\n    logging.info('yes')\n"})
    api.add({})
    run_bootstrap(api, tmp_path, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    [line] = api.posts("/response")[0].output.splitlines()
    assert (json.loads(line)["level"], json.loads(line)["message"]) == ("INFO", "yes")
