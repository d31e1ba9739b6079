"""The nodejs20.x runtime through boto3 and a real `faas serve`: handler styles, context, errors, logs."""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.e2e.conftest import ROLE, make_zip, unique

pytestmark = pytest.mark.docker


def deploy(lam, files: dict[str, str], handler: str = "index.handler", **extra) -> str:  # type: ignore[no-untyped-def]
    name = unique("node")
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip(files)}, **extra)
    return name


def call(lam, name: str, payload: object = None):  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload if payload is not None else {}).encode(),
                          LogType="Tail")
    return response, json.loads(response["Payload"].read()), base64.b64decode(response["LogResult"]).decode()


def test_async_commonjs_handler_with_context_and_env(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"index.js": """
exports.handler = async (event, context) => {
  console.log("hello from node", event.n);
  return {
    event, functionName: context.functionName, functionVersion: context.functionVersion,
    awsRequestId: context.awsRequestId, invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB, logGroupName: context.logGroupName,
    logStreamName: context.logStreamName, remaining: context.getRemainingTimeInMillis(),
    env: {handler: process.env._HANDLER, name: process.env.AWS_LAMBDA_FUNCTION_NAME, mine: process.env.MINE},
    uid: process.getuid(),
  };
};
"""}, MemorySize=256, Timeout=6, Environment={"Variables": {"MINE": "yes"}})
    response, body, log = call(lam, name, {"n": 7})
    assert "FunctionError" not in response
    assert body["event"] == {"n": 7}
    assert body["functionName"] == name and body["functionVersion"] == "$LATEST"
    assert body["awsRequestId"] == response["ResponseMetadata"]["RequestId"]
    assert body["invokedFunctionArn"].endswith(f":function:{name}")
    assert body["memoryLimitInMB"] == "256"
    assert body["logGroupName"] == f"/aws/lambda/{name}"
    assert 0 < body["remaining"] <= 6000
    assert body["env"] == {"handler": "index.handler", "name": name, "mine": "yes"}
    assert body["uid"] != 0
    assert re.search(rf"\t{body['awsRequestId']}\tINFO\thello from node 7", log)
    assert log.startswith("START RequestId:") and "REPORT RequestId:" in log and "Init Duration" in log


def test_es_module_handler(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"index.mjs": "export const handler = async (event) => ({esm: true, got: event.x});\n"})
    assert call(lam, name, {"x": 1})[1] == {"esm": True, "got": 1}
    pkg = deploy(lam, {"package.json": '{"type": "module"}',
                       "app.js": "export async function handler(e) { return 'module-js'; }\n"}, handler="app.handler")
    assert call(lam, pkg)[1] == "module-js"


def test_callback_handler_waits_for_the_event_loop_unless_told_not_to(lam) -> None:  # type: ignore[no-untyped-def]
    code = """
exports.handler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = event.wait;
  const started = Date.now();
  setTimeout(() => console.log("timer fired after", Date.now() - started), 400);
  callback(null, {answered: true});
};
"""
    name = deploy(lam, {"index.js": code})
    _, body, log = call(lam, name, {"wait": True})
    assert body == {"answered": True}
    assert "timer fired after" in log  # the result waited for the empty event loop
    assert duration_ms(log) >= 400
    _, body, log = call(lam, name, {"wait": False})
    assert body == {"answered": True}
    assert "timer fired after" not in log  # answered before the timer
    assert duration_ms(log) < 400


def duration_ms(log: str) -> float:
    return float(re.search(r"\tDuration: ([\d.]+) ms", log).group(1))


def test_errors_have_node_shape(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"index.js": """
exports.handler = async (event) => {
  if (event.kind === "string") throw "plain string";
  const err = new TypeError("bad " + event.kind);
  throw err;
};
"""})
    response, body, log = call(lam, name, {"kind": "input"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "bad input"
    assert isinstance(body["trace"], list) and body["trace"]
    assert "TypeError" in log
    response, body, _ = call(lam, name, {"kind": "string"})
    assert response["FunctionError"] == "Unhandled" and body["errorMessage"] == "plain string"

    callback_error = deploy(lam, {"index.js": "exports.handler = (e, c, cb) => cb(new Error('via callback'));\n"})
    assert call(lam, callback_error)[1]["errorMessage"] == "via callback"


@pytest.mark.parametrize("files,handler,error_type", [
    ({"index.js": "require('no-such-package');\nexports.handler = async () => 1;\n"}, "index.handler",
     "Runtime.ImportModuleError"),
    ({"other.js": "exports.handler = async () => 1;\n"}, "index.handler", "Runtime.ImportModuleError"),
    ({"index.js": "exports.other = async () => 1;\n"}, "index.handler", "Runtime.HandlerNotFound"),
    ({"index.js": "exports.handler = async () => {\n"}, "index.handler", "Runtime.UserCodeSyntaxError"),
], ids=["missing-package", "missing-module", "handler-missing", "syntax"])
def test_bad_node_handlers(lam, files, handler, error_type) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, files, handler=handler)
    response, body, _ = call(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type, body


def test_node_timeout_and_warm_reuse(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, {"index.js": """
let calls = 0;
exports.handler = async (event) => {
  calls += 1;
  if (event.hang) await new Promise(() => setTimeout(() => {}, 60000));
  return calls;
};
"""}, Timeout=1)
    assert call(lam, name)[1] == 1
    assert call(lam, name)[1] == 2  # the same warm environment
    response, body, _ = call(lam, name, {"hang": True})
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert call(lam, name)[1] == 1  # a fresh environment
