"""The nodejs20.x bootstrap, run on the host with its `node` as a subprocess against a fake Runtime API."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.fake_runtime_api import FakeRuntimeApi, ScriptedServer

BOOTSTRAP = Path(__file__).resolve().parents[2] / "runtimes" / "nodejs20.x" / "bootstrap.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed on this host")

ECHO = "exports.handler = async (event) => event;\n"
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def write_code(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def function_env(task_root: Path, handler: str = "app.handler") -> dict[str, str]:
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
        "TZ": ":UTC",
        **({"FAAS_PREWARMED": "1"} if prewarmed else function_env(task_root, handler)),
        **(env or {}),
    }
    # stdout and stderr: the fake Runtime API's pipe, as the platform's in a container
    output = api.output_fd if api is not None else subprocess.PIPE
    process = subprocess.Popen([NODE, str(BOOTSTRAP)], env=environment, cwd=task_root,
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


def log_lines(call) -> list[list[str]]:
    """The output written before an answer as [time, request id, level, message] per line."""
    return [line.split("\t", 3) for line in call.output.splitlines()]


# --- invocations ------------------------------------------------------------------------------

def test_async_handler_gets_event_and_context(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = async (event, context) => ({
            event,
            functionName: context.functionName,
            functionVersion: context.functionVersion,
            invokedFunctionArn: context.invokedFunctionArn,
            memoryLimitInMB: context.memoryLimitInMB,
            awsRequestId: context.awsRequestId,
            logGroupName: context.logGroupName,
            logStreamName: context.logStreamName,
            remaining: context.getRemainingTimeInMillis(),
            waits: context.callbackWaitsForEmptyEventLoop,
            clientContext: context.clientContext ?? null,
            identity: context.identity ?? null,
            legacy: [typeof context.succeed, typeof context.fail, typeof context.done],
            trace: process.env._X_AMZN_TRACE_ID ?? null,
        });
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
    assert "faas bootstrap: GET /invocation/next answered 500" in api.take_output()
    responses = api.posts("/response")
    assert [c.path for c in responses] == [f"/invocation/{first.request_id}/response",
                                           f"/invocation/{second.request_id}/response"]
    assert responses[0].headers["Content-Type"] == "application/json"
    body = responses[0].json()
    assert body["event"] == {"hello": "wörld", "n": [1, 2]}
    assert body["awsRequestId"] == first.request_id
    assert (body["functionName"], body["functionVersion"]) == ("fn", "$LATEST")
    assert body["memoryLimitInMB"] == "256"  # a string, as in AWS's client
    assert body["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert body["logGroupName"] == "/aws/lambda/fn"
    assert body["logStreamName"].startswith("2024/01/02/[$LATEST]")
    assert 20_000 < body["remaining"] <= 30_000
    assert body["waits"] is True
    assert body["clientContext"] == {"custom": {"k": "v"}, "client": {"app_title": "t"}}
    assert body["identity"] == {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    assert body["legacy"] == ["function"] * 3
    assert body["trace"] == "Root=1-abc"
    later = responses[1].json()
    assert later["remaining"] == 0  # the deadline has passed: never negative
    assert later["trace"] is None and later["clientContext"] is None and later["identity"] is None
    assert api.logs() == []  # nothing written


def timer_app(waits: bool) -> str:
    return f"""
        exports.handler = (event, context, callback) => {{
            if (event.slow) {{
                return new Promise((resolve) => setTimeout(() => resolve('slow done'), 600));
            }}
            context.callbackWaitsForEmptyEventLoop = {str(waits).lower()};
            setTimeout(() => console.log('timer fired'), 300);
            callback(null, {{ n: event.n }});
        }};
    """


def test_callback_result_waits_for_the_event_loop_to_be_empty(api, tmp_path):
    write_code(tmp_path, {"app.js": timer_app(waits=True)})
    event = api.add({"n": 1})
    run_bootstrap(api, tmp_path)

    next_call = next(c for c in api.calls if c.path == "/invocation/next")
    [response] = api.posts()
    assert response.path == f"/invocation/{event.request_id}/response"
    assert response.json() == {"n": 1}
    assert response.received_at - next_call.received_at >= 0.3  # after the timer
    assert log_lines(response)[0][2:] == ["INFO", "timer fired"]


def test_callback_result_is_posted_at_once_when_not_waiting(api, tmp_path):
    write_code(tmp_path, {"app.js": timer_app(waits=False)})
    first, second = api.add({"n": 1}), api.add({"slow": True})
    run_bootstrap(api, tmp_path)

    next_call = next(c for c in api.calls if c.path == "/invocation/next")
    posts = api.posts()
    assert [c.path for c in posts] == [f"/invocation/{first.request_id}/response",
                                       f"/invocation/{second.request_id}/response"]
    assert posts[0].json() == {"n": 1}
    assert posts[0].received_at - next_call.received_at < 0.25  # before the timer
    # the timer fired while the next invocation ran: its line is part of that one's log (and, as on
    # AWS, carries that one's request id)
    assert [line[1:] for line in log_lines(posts[1])] == [[second.request_id, "INFO", "timer fired"]]
    assert posts[1].json() == "slow done"


def test_return_value_of_a_non_async_handler_is_ignored_unless_it_is_a_promise(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = (event, context) => {
            if (event.promise) {
                return Promise.resolve('from a promise');
            }
            setTimeout(() => {}, 100);
            return 'ignored, as on AWS';
        };
    """})
    api.add({})
    api.add({"promise": True})
    run_bootstrap(api, tmp_path)
    assert [c.body for c in api.posts("/response")] == [b"null", b'"from a promise"']


def test_context_succeed_fail_and_done_complete_at_once(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = (event, context) => {
            setTimeout(() => {}, 60000);  // not waited for: finish() would time out after 30 s
            if (event.how === 'succeed') context.succeed({ ok: 1 });
            if (event.how === 'done') context.done(null, 'done');
            if (event.how === 'fail') context.fail(new Error('failed'));
            context.succeed('second call is ignored');
        };
    """})
    for how in ("succeed", "done", "fail"):
        api.add({"how": how})
    run_bootstrap(api, tmp_path)
    assert [c.body for c in api.posts("/response")] == [b'{"ok":1}', b'"done"']
    assert api.posts("/error")[0].json()["errorMessage"] == "failed"


def test_callback_error_and_first_call_wins(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = (event, context, callback) => {
            callback(new TypeError('bad input'));
            callback(null, 'ignored');
        };
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    [error] = api.posts("/error")
    assert error.json()["errorType"] == "TypeError"
    assert not api.posts("/response")


def test_async_handler_that_never_settles_fails_with_nodejs_exit(api, tmp_path):
    write_code(tmp_path, {"app.js": "exports.handler = async () => new Promise(() => {});\n"})
    api.add({})
    run_bootstrap(api, tmp_path)
    body = api.posts("/error")[0].json()
    assert body["errorType"] == "Runtime.NodeJsExit"
    assert "Promise that was never settled" in body["errorMessage"]


# --- modules ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("files", "handler"), [
    ({"app.js": "module.exports.handler = async () => 'cjs';\n"}, "app.handler"),
    ({"app.cjs": "exports.handler = async () => 'cjs';\n"}, "app.handler"),
    ({"app.mjs": "export const handler = async () => 'esm';\n"}, "app.handler"),
    ({"package.json": '{"type": "module"}', "app.js": "export async function handler() { return 'esm'; }\n"},
     "app.handler"),
    ({"lib/package.json": '{"type": "module"}',
      "lib/deep/app.js": "export const handler = async () => 'esm';\n"}, "lib/deep/app.handler"),
    ({"src/app.js": "exports.handlers = { main: async () => 'cjs' };\n"}, "src/app.handlers.main"),
    ({"app.mjs": "const config = await Promise.resolve('esm');\nexport const handler = async () => config;\n"},
     "app.handler"),
    ({"node_modules/pkg/index.js": "exports.handler = async () => 'cjs';\n"}, "pkg.handler"),
    # Node 20.19+ detects ES module syntax in a .js file outside a "type": "module" package
    ({"app.js": "export const handler = async () => 'esm';\n"}, "app.handler"),
])
def test_handler_modules_are_found_like_aws(api, tmp_path, files, handler):
    write_code(tmp_path, files)
    api.add({})
    run_bootstrap(api, tmp_path, handler)
    [response] = api.posts("/response")
    expected = "esm" if "export " in "".join(files.values()) else "cjs"
    assert response.json() == expected, api.logs()


@pytest.mark.parametrize(("handler", "files", "error_type", "message"), [
    ("missing.handler", {}, "Runtime.ImportModuleError", "Error: Cannot find module 'missing'\nRequire stack:"),
    ("app.handler", {"app.js": "require('not-installed');\n"}, "Runtime.ImportModuleError",
     "Error: Cannot find module 'not-installed'\nRequire stack:\n- " + "{root}/app.js"),
    ("app.handler", {"app.mjs": "import 'not-installed';\n"}, "Runtime.ImportModuleError",
     "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'not-installed' imported from {root}/app.mjs"),
    ("app.nope", {"app.js": ECHO}, "Runtime.HandlerNotFound", "app.nope is undefined or not exported"),
    ("app.value", {"app.js": "exports.value = 42;\n"}, "Runtime.HandlerNotFound", "app.value is not a function"),
    ("app", {"app.js": ECHO}, "Runtime.MalformedHandlerName", "Bad handler"),
    ("", {}, "Runtime.MalformedHandlerName", "Bad handler"),
    ("../etc/app.handler", {}, "Runtime.MalformedHandlerName",
     "'../etc/app.handler' is not a valid handler name. Use absolute paths when specifying root directories "
     "in handler names."),
    ("app.handler", {"app.js": "exports.handler = (:\n"}, "Runtime.UserCodeSyntaxError",
     "SyntaxError: Unexpected token ':'"),
    ("app.handler", {"app.mjs": "export const handler = (:\n"}, "Runtime.UserCodeSyntaxError",
     "SyntaxError: Unexpected token ':'"),
])
def test_init_failures_have_aws_error_types(api, tmp_path, handler, files, error_type, message):
    files = {name: "console.log('starting up');\n" + text for name, text in files.items()}
    write_code(tmp_path, files)
    api.add({})
    result = run_bootstrap(api, tmp_path, handler)

    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/init/error"]  # never asked for /next
    [error] = api.calls
    body = error.json()
    assert set(body) == {"errorType", "errorMessage", "trace"}
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message.format(root=tmp_path))
    assert body["trace"][0].startswith(f"{error_type}: ") or error_type == "Runtime.UserCodeSyntaxError"
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == error_type
    lines = log_lines(error)
    *output, last = lines
    assert last[1:3] == ["undefined", "ERROR"]  # no request id yet, as on AWS
    assert last[3].startswith("Uncaught Exception \t{")
    assert json.loads(last[3].split("\t", 1)[1])["errorType"] == error_type
    if "app.js" in files and error_type in ("Runtime.HandlerNotFound", "Runtime.ImportModuleError"):
        assert output[0][2:] == ["INFO", "starting up"]  # output of the import itself is kept
    if "app.js" in files and error_type == "Runtime.UserCodeSyntaxError":
        # CommonJS syntax errors name the file and line; Node 20 gives ES modules' no location (nor does AWS)
        assert body["trace"][0] == f"{tmp_path / 'app.js'}:2"


def test_exception_during_import_keeps_its_type(api, tmp_path):
    write_code(tmp_path, {"app.js": "throw new RangeError('config missing');\n"})
    result = run_bootstrap(api, tmp_path)
    assert result.returncode == 1
    body = api.posts("/init/error")[0].json()
    assert (body["errorType"], body["errorMessage"]) == ("RangeError", "config missing")
    assert body["trace"][0] == "RangeError: config missing"
    assert str(tmp_path / "app.js") in body["trace"][1]


# --- errors -----------------------------------------------------------------------------------

def test_thrown_error_is_posted_with_its_trace_and_logged(api, tmp_path):
    write_code(tmp_path, {"app.mjs": """
        function helper() {
            throw new Error('boom');
        }
        export const handler = async () => helper();
    """})
    event = api.add({})
    run_bootstrap(api, tmp_path)

    [error] = api.posts("/error")
    assert error.path == f"/invocation/{event.request_id}/error"
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Error"
    body = error.json()
    assert list(body) == ["errorType", "errorMessage", "trace"]  # `trace`, as AWS's Node client
    assert (body["errorType"], body["errorMessage"]) == ("Error", "boom")
    app = (tmp_path / "app.mjs").as_uri()
    assert body["trace"][0] == "Error: boom"
    assert body["trace"][1] == f"    at helper ({app}:3:11)"
    assert body["trace"][2].startswith(f"    at handler ({app}:5:")  # AWS: `at Runtime.handler`
    assert not any("bootstrap.mjs" in line for line in body["trace"])  # the runtime's own frames are cut
    [[timestamp, request_id, level, message]] = log_lines(error)
    assert (request_id, level) == (event.request_id, "ERROR")
    assert message.startswith("Invoke Error \t{")
    logged = json.loads(message.split("\t", 1)[1])
    assert (logged["errorType"], logged["errorMessage"], logged["stack"][0]) == ("Error", "boom", "Error: boom")
    assert not api.posts("/response")
    # the environment lives on after a handled error
    assert [c.path for c in api.calls if c.method == "GET"] == ["/invocation/next"] * 2


@pytest.mark.parametrize("code", [
    "exports.handler = () => { throw 'boom'; };",
    "exports.handler = async () => { throw 'boom'; };",
    "exports.handler = (e, c, callback) => callback('boom');",
])
def test_thrown_string_is_posted_like_aws(api, tmp_path, code):
    write_code(tmp_path, {"app.js": code})
    api.add({})
    run_bootstrap(api, tmp_path)
    [error] = api.posts("/error")
    assert error.json() == {"errorType": "string", "errorMessage": "boom", "trace": []}
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "string"


def test_custom_error_class_name_is_the_error_type(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        class ValidationError extends Error {
            constructor(message) { super(message); this.name = 'ValidationError'; this.field = 'email'; }
        }
        exports.handler = async () => { throw new ValidationError('bad email'); };
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    body = api.posts("/error")[0].json()
    assert (body["errorType"], body["errorMessage"]) == ("ValidationError", "bad email")
    logged = json.loads(log_lines(api.posts("/error")[0])[0][3].split("\t", 1)[1])
    assert logged["field"] == "email"  # the error's own properties are logged too


def test_unserialisable_result_is_an_error(api, tmp_path):
    write_code(tmp_path, {"app.js": "exports.handler = async () => { const a = {}; a.self = a; return a; };\n"})
    api.add({})
    run_bootstrap(api, tmp_path)
    body = api.posts("/error")[0].json()
    assert (body["errorType"], body["errorMessage"]) == ("Error", "Unable to stringify response body")


def test_malformed_json_event_is_the_invocation_error(api, tmp_path):
    write_code(tmp_path, {"app.js": ECHO})
    api.add(b"{not json")
    run_bootstrap(api, tmp_path)
    assert api.posts("/error")[0].json()["errorType"] == "SyntaxError"


def test_non_json_event_is_a_buffer_and_a_buffer_is_returned_raw(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = async (event) => Buffer.concat([Buffer.from('<'), event, Buffer.from('>')]);
    """})
    api.add(b"raw \xff data", headers={"Content-Type": "application/octet-stream"})
    run_bootstrap(api, tmp_path)
    [response] = api.posts("/response")
    assert response.body == b"<raw \xff data>"
    assert response.headers["Content-Type"] == "application/unknown"


def test_undefined_result_is_null(api, tmp_path):
    write_code(tmp_path, {"app.js": "exports.handler = async () => undefined;\n"})
    api.add({})
    run_bootstrap(api, tmp_path)
    assert api.posts("/response")[0].body == b"null"


def test_unhandled_rejection_fails_the_invocation_and_ends_the_process(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = (event, context, callback) => {
            console.log('before');
            Promise.reject(new Error('nobody caught me'));
            setTimeout(() => callback(null, 'too late'), 1000);
        };
    """})
    event = api.add({})
    api.add({})
    result = run_bootstrap(api, tmp_path)

    assert result.returncode == 128
    assert [c.path for c in api.calls] == ["/invocation/next", f"/invocation/{event.request_id}/error"]
    body = api.posts("/error")[0].json()
    assert body["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert body["errorMessage"] == "Error: nobody caught me"
    assert body["trace"][0] == "Runtime.UnhandledPromiseRejection: Error: nobody caught me"
    assert str(tmp_path / "app.js") in body["trace"][1]
    lines = log_lines(api.posts("/error")[0])
    assert lines[0][2:] == ["INFO", "before"]
    assert lines[1][3].startswith("Unhandled Promise Rejection \t{")


def test_uncaught_exception_in_a_timer_fails_the_invocation_and_ends_the_process(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = async () => new Promise(() => {
            setTimeout(() => { throw new TypeError('in a timer'); }, 10);
        });
    """})
    event = api.add({})
    result = run_bootstrap(api, tmp_path)
    assert result.returncode == 129
    [error] = api.posts("/error")
    assert error.path == f"/invocation/{event.request_id}/error"
    assert (error.json()["errorType"], error.json()["errorMessage"]) == ("TypeError", "in a timer")
    assert log_lines(error)[0][3].startswith("Uncaught Exception \t{")


def test_unhandled_rejection_during_init_is_an_init_error(api, tmp_path):
    write_code(tmp_path, {"app.js": "Promise.reject(new Error('at start'));\nexports.handler = async () => 1;\n"})
    api.add({})
    result = run_bootstrap(api, tmp_path)
    assert result.returncode == 128
    assert [c.path for c in api.calls] == ["/init/error"]
    body = api.posts("/init/error")[0].json()
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.UnhandledPromiseRejection", "Error: at start")


def test_process_exit_in_a_handler_leaves_its_output_in_the_pipe(api, tmp_path):
    write_code(tmp_path, {"app.js": "exports.handler = async () => { console.log('bye'); process.exit(3); };\n"})
    api.add({})
    result = run_bootstrap(api, tmp_path)
    assert result.returncode == 3
    assert [c.path for c in api.calls] == ["/invocation/next"]
    assert api.take_output().endswith("\tINFO\tbye\n")


def test_a_child_process_output_with_inherited_stdio_is_written_before_the_response(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        const { execFileSync } = require('node:child_process');
        exports.handler = async () => {
            console.log('parent');
            execFileSync('sh', ['-c', 'echo from child; echo child err >&2'], { stdio: 'inherit' });
            return 'done';
        };
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    lines = api.posts("/response")[0].output.splitlines()
    assert lines[0].endswith("\tINFO\tparent") and lines[1:] == ["from child", "child err"]


# --- output -----------------------------------------------------------------------------------

def test_console_and_stream_output_are_written_before_the_response(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        console.log('during init');
        exports.handler = async (event) => {
            if (event.quiet) return 'quiet';
            console.log('logged', event.n, { a: 1 });
            console.info('info');
            console.warn('warn');
            console.error('error');
            console.debug('debug');
            console.trace('trace');
            console.log('two\\nlines');
            process.stdout.write('raw out\\n');
            process.stderr.write(Buffer.from('raw err\\n'));
            return 'done';
        };
    """})
    first, second, quiet = api.add({"n": 1}), api.add({"n": 2}), api.add({"quiet": True})
    run_bootstrap(api, tmp_path)

    assert [c.path for c in api.posts()] == [
        f"/invocation/{first.request_id}/response", f"/invocation/{second.request_id}/response",
        f"/invocation/{quiet.request_id}/response"]
    first_log, second_log, quiet_log = (c.output for c in api.posts())
    assert quiet_log == ""
    lines = first_log.split("\n")
    assert re.fullmatch(rf"{ISO_TIME}\tundefined\tINFO\tduring init", lines[0])
    assert re.fullmatch(rf"{ISO_TIME}\t{first.request_id}\tINFO\tlogged 1 {{ a: 1 }}", lines[1])
    assert [line.split("\t")[2:] for line in lines[2:8]] == [
        ["INFO", "info"], ["WARN", "warn"], ["ERROR", "error"], ["DEBUG", "debug"], ["TRACE", "trace"],
        ["INFO", "two"]]
    assert lines[8:] == ["lines", "raw out", "raw err", ""]
    assert "during init" not in second_log  # only what this invocation wrote
    assert second_log.split("\n")[0].split("\t")[1:] == [second.request_id, "INFO", "logged 2 { a: 1 }"]


def test_log_level_comes_from_aws_lambda_log_level(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = async () => { console.log('quiet'); console.debug('quiet'); console.warn('shown'); };
    """})
    api.add({})
    run_bootstrap(api, tmp_path, env={"AWS_LAMBDA_LOG_LEVEL": "warn"})
    assert [line[2:] for line in log_lines(api.posts("/response")[0])] == [["WARN", "shown"]]


def test_sigterm_during_an_invocation_keeps_its_output_and_exits(api, tmp_path):
    started = tmp_path / "started"
    write_code(tmp_path, {"app.js": f"""
        exports.handler = () => {{
            console.log('working on it');
            require('fs').writeFileSync({json.dumps(str(started))}, '');
            setTimeout(() => {{}}, 60000);
        }};
    """})
    event = api.add({})
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
    assert api.take_output().split("\t")[1:] == [event.request_id, "INFO", "working on it\n"]


# --- the Runtime API connection ---------------------------------------------------------------

def unused_address() -> str:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{unused.getsockname()[1]}"


def test_exits_non_zero_when_the_runtime_api_is_unreachable(tmp_path):
    write_code(tmp_path, {"app.js": ECHO})
    result = run_bootstrap(None, tmp_path, address=unused_address())
    assert result.returncode == 1
    assert b"faas bootstrap: GET /invocation/next" in result.stderr


CLIENT_DRIVER = """
const { RuntimeApi } = await import(process.argv[1]);
const api = new RuntimeApi(process.argv[2]);
const answers = [];
for (const [method, path, body] of JSON.parse(process.argv[3])) {
  try {
    const headerLines = body ? 'Content-Type: application/json\\r\\n' : '';
    const { status, headers, body: received } = await api.request(method, path, Buffer.from(body), headerLines);
    answers.push({ status, headers, body: received.toString('latin1') });
  } catch (error) {
    answers.push({ error: `${error.constructor.name}: ${error.message}` });
  }
}
process.stdout.write(JSON.stringify(answers));
"""


def client_calls(server: ScriptedServer, requests: list[tuple[str, str, str]]) -> list[dict]:
    """Run the bootstrap's Runtime API client (imported, not started) against a scripted server."""
    client_module = (BOOTSTRAP.parent / "runtime-api.mjs").as_uri()
    result = subprocess.run([NODE, "--input-type=module", "-e", CLIENT_DRIVER, client_module, server.address,
                             json.dumps(requests)], capture_output=True, timeout=10)
    server.close()
    assert result.returncode == 0, result.stderr  # and the idle connection did not keep node alive
    return json.loads(result.stdout)


@pytest.mark.parametrize("drip", [False, True])
def test_client_reads_chunked_bodies_and_honours_connection_close(drip):
    server = ScriptedServer([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nend",
        b"HTTP/1.1 202\r\n\r\nbody until close",  # the server closes when out of answers
    ], drip=drip)
    answers = client_calls(server, [("GET", "/a", ""), ("POST", "/b", "{}"), ("GET", "/c", ""), ("POST", "/d", "x")])
    assert answers[0] == {"status": 200, "headers": {"transfer-encoding": "chunked", "x-a": "1"},
                          "body": "hello world"}
    assert (answers[1]["status"], answers[1]["body"]) == (202, "ok")
    assert answers[2]["body"] == "end"
    assert answers[3]["body"] == "body until close"
    assert server.connections == 3  # closed after `Connection: close` and after an HTTP/1.0 answer
    assert server.requests[0] == (f"GET /2018-06-01/runtime/a HTTP/1.1\r\nHost: {server.address}\r\n"
                                  "Content-Length: 0\r\n\r\n").encode()
    assert server.requests[1].startswith(b"POST /2018-06-01/runtime/b HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in server.requests[1]
    assert server.requests[1].endswith(b"\r\n\r\n{}")


def test_client_retries_once_on_a_kept_alive_connection_the_server_closed():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    server = ScriptedServer([ok, None, ok])
    answers = client_calls(server, [("GET", "/one", ""), ("GET", "/two", "")])
    assert [a.get("status") for a in answers] == [200, 200]  # the first try of /two hit the closed connection
    assert server.connections == 2


def test_client_does_not_retry_a_fresh_connection():
    server = ScriptedServer([None])
    [answer] = client_calls(server, [("GET", "/invocation/next", "")])
    assert answer["error"].startswith("RuntimeApiError: GET /invocation/next: ")


def test_client_rejects_what_is_not_http():
    server = ScriptedServer([b"SSH-2.0-OpenSSH\r\n\r\n"])
    [answer] = client_calls(server, [("GET", "/x", "")])
    assert answer["error"].startswith("RuntimeApiError: GET /x: not an HTTP/1.x response")


# --- prewarmed start --------------------------------------------------------------------------

def test_prewarmed_start_waits_for_specialize_then_serves_the_function(api, tmp_path):
    event = api.add({"n": 1})
    process = run_bootstrap(api, tmp_path, prewarmed=True, wait=False)
    try:
        api.wait_for_call("GET", "/faas/specialize")
        time.sleep(0.1)
        assert [c.path for c in api.calls] == ["/faas/specialize"]  # nothing else until bound
        # The platform fills /var/task only now, as it does on the host for a bind mount.
        write_code(tmp_path, {"app.mjs": """
            console.log('init of', process.env.AWS_LAMBDA_FUNCTION_NAME);
            export const handler = async (event, context) => ({
                event,
                functionName: context.functionName,
                memory: context.memoryLimitInMB,
                fromEnv: process.env.AWS_LAMBDA_FUNCTION_NAME,
                custom: process.env.GREETING,
                prewarmed: process.env.FAAS_PREWARMED ?? null,
            });
        """})
        api.specialize({**function_env(tmp_path), "GREETING": "hello", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
        result = finish(process)
    finally:
        process.kill()
    assert result.returncode == 1  # out of events
    [response] = api.posts("/response")
    assert response.path == f"/invocation/{event.request_id}/response"
    assert response.json() == {"event": {"n": 1}, "functionName": "fn", "memory": "256", "fromEnv": "fn",
                               "custom": "hello", "prewarmed": None}
    assert log_lines(response)[0][2:] == ["INFO", "init of fn"]


def test_prewarmed_start_exits_when_specialize_is_refused(api, tmp_path):
    api.specialize(status=500)
    result = run_bootstrap(api, tmp_path, prewarmed=True)
    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/faas/specialize"]
    assert api.take_output().startswith("faas bootstrap: GET /faas/specialize answered 500")


def test_prewarmed_start_exits_when_specialize_answers_nonsense(api, tmp_path):
    api.specialize(body=b'{"environment": {"A": 1}}')
    result = run_bootstrap(api, tmp_path, prewarmed=True)
    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/faas/specialize"]


def test_prewarmed_start_exits_when_the_runtime_api_is_unreachable(tmp_path):
    result = run_bootstrap(None, tmp_path, prewarmed=True, address=unused_address())
    assert result.returncode == 1
    assert b"faas bootstrap: GET /faas/specialize" in result.stderr


def test_prewarmed_start_keeps_one_connection_from_specialize_on(tmp_path):
    write_code(tmp_path, {"app.js": ECHO})
    environment = json.dumps({"environment": function_env(tmp_path)}).encode()
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
    api.specialize(function_env(tmp_path, "missing.handler"))
    result = run_bootstrap(api, tmp_path, prewarmed=True)
    assert result.returncode == 1
    assert [c.path for c in api.calls] == ["/faas/specialize", "/init/error"]
    assert api.posts("/init/error")[0].json()["errorType"] == "Runtime.ImportModuleError"


def test_json_log_format_writes_console_calls_as_json_objects_filtered_by_level(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = async () => {
            process.stdout.write('raw write\\n');
            console.info('below WARN: dropped');
            console.warn('careful %d', 1);
            console.error(new TypeError('bad'));
        };
    """})
    invocation = api.add({})
    run_bootstrap(api, tmp_path, env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"})
    lines = api.posts("/response")[0].output.splitlines()
    assert lines[0] == "raw write"
    warning, error = (json.loads(line) for line in lines[1:])
    assert {k: warning[k] for k in ("level", "requestId", "message")} == {
        "level": "WARN", "requestId": invocation.request_id, "message": "careful 1"}
    assert warning["timestamp"].endswith("Z")
    assert (error["level"], error["errorType"], error["errorMessage"]) == ("ERROR", "TypeError", "bad")
    assert "below WARN" not in "".join(lines)


def test_json_log_format_defaults_to_info(api, tmp_path):
    write_code(tmp_path, {"app.js": "exports.handler = async () => { console.debug('no'); console.log('yes'); };"})
    api.add({})
    run_bootstrap(api, tmp_path, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    [line] = api.posts("/response")[0].output.splitlines()
    assert (json.loads(line)["level"], json.loads(line)["message"]) == ("INFO", "yes")
