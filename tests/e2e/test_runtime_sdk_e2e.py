"""The AWS SDKs the runtimes ship, end to end against a real `faas serve`: unbundled boto3 and SDK for
JavaScript v3 (ES module and CommonJS) calls from inside functions reach the platform with nothing but
the execution role's credentials, AWS_ENDPOINT_URL and the region the runtime sets; a function's own
bundled copy wins over the runtime's, as on Lambda."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import docker
import pytest

from faas.sandbox import images
from tests.e2e.conftest import Server, make_zip, unique

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
REGION = "us-east-1"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"

TARGET = "def handler(event, context):\n    return {'target': context.function_name, 'got': event}\n"

BOTO3_CALLER = """
import json

import boto3


def handler(event, context):
    answer = boto3.client("lambda").invoke(FunctionName=event["target"], Payload=json.dumps({"from": "boto3"}))
    return {"sdk": boto3.__version__, "file": boto3.__file__, "status": answer["StatusCode"],
            "payload": json.loads(answer["Payload"].read())}
"""

ESM_CALLER = """
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";

export const handler = async (event) => {
  const answer = await new LambdaClient({}).send(
    new InvokeCommand({ FunctionName: event.target, Payload: JSON.stringify({ from: "esm" }) }));
  return { status: answer.StatusCode, payload: JSON.parse(Buffer.from(answer.Payload).toString()) };
};
"""

CJS_CALLER = """
const { InvokeCommand, LambdaClient } = require("@aws-sdk/client-lambda");

exports.handler = async (event) => {
  const answer = await new LambdaClient({}).send(
    new InvokeCommand({ FunctionName: event.target, Payload: JSON.stringify({ from: "cjs" }) }));
  return { status: answer.StatusCode, payload: JSON.parse(Buffer.from(answer.Payload).toString()),
           file: require.resolve("@aws-sdk/client-lambda") };
};
"""

# A function's own (fake, minimal) SDK, which must shadow the runtime's.
BUNDLED_BOTO3 = {
    "boto3/__init__.py": "__version__ = '0.0.0-bundled'\n",
    "app.py": "import boto3\n\n\ndef handler(event, context):\n"
              "    return {'sdk': boto3.__version__, 'file': boto3.__file__}\n",
}
BUNDLED_CLIENT_LAMBDA = {
    "node_modules/@aws-sdk/client-lambda/package.json":
        json.dumps({"name": "@aws-sdk/client-lambda", "version": "0.0.0-bundled", "main": "index.js"}),
    "node_modules/@aws-sdk/client-lambda/index.js": "exports.LambdaClient = class {};\nexports.bundled = true;\n",
    "esm.mjs": 'import { bundled, LambdaClient } from "@aws-sdk/client-lambda";\n'
               "export const handler = async () => ({ bundled, client: typeof LambdaClient });\n",
    "cjs.js": 'const sdk = require("@aws-sdk/client-lambda");\n'
              "exports.handler = async () => ({ bundled: sdk.bundled,\n"
              "                                 file: require.resolve('@aws-sdk/client-lambda') });\n",
}


def native(server: Server, method: str, path: str, payload: object) -> None:
    status, _, answer = server.request(method, path, json.dumps(payload).encode(),
                                       {"Content-Type": "application/json"})
    assert status in (200, 201), (method, path, status, answer[:500])


@pytest.fixture(scope="module")
def caller_role(server: Server) -> str:
    """An execution role that may invoke the targets below, and nothing else."""
    name = unique("sdk-caller")
    native(server, "POST", "/faas/v1/roles", {"Name": name})
    native(server, "PUT", f"/faas/v1/roles/{name}/policies/main", {"PolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": ARN + "sdk-target-*"}]}})
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


@pytest.fixture(scope="module")
def target(lam, caller_role: str) -> str:  # type: ignore[no-untyped-def]
    name = unique("sdk-target")
    create(lam, name, "python3.13", "app.handler", {"app.py": TARGET}, caller_role)
    return name


def create(lam, name: str, runtime: str, handler: str, files: dict[str, str], role: str) -> None:  # type: ignore[no-untyped-def]
    # No Environment: the SDK must find its endpoint, region and credentials on its own.
    lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler=handler,
                        Code={"ZipFile": make_zip(files)}, Timeout=60, MemorySize=512)


def invoke(lam, name: str, payload: dict) -> dict:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_unbundled_boto3_invokes_another_function(lam, caller_role: str, target: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("sdk-boto3")
    create(lam, name, "python3.13", "app.handler", {"app.py": BOTO3_CALLER}, caller_role)
    body = invoke(lam, name, {"target": target})
    assert body["status"] == 200
    assert body["payload"] == {"target": target, "got": {"from": "boto3"}}
    assert body["file"] == "/usr/local/lib/python3.13/dist-packages/boto3/__init__.py"
    assert body["sdk"].startswith("1.")


@pytest.mark.parametrize(("kind", "handler", "files"), [
    ("esm", "index.handler", {"index.mjs": ESM_CALLER}),
    ("cjs", "index.handler", {"index.js": CJS_CALLER}),
])
def test_unbundled_sdk_v3_invokes_another_function(  # type: ignore[no-untyped-def]
        lam, caller_role: str, target: str, kind: str, handler: str, files: dict[str, str]) -> None:
    name = unique(f"sdk-{kind}")
    create(lam, name, "nodejs20.x", handler, files, caller_role)
    body = invoke(lam, name, {"target": target})
    assert body["status"] == 200
    assert body["payload"] == {"target": target, "got": {"from": kind}}
    if kind == "cjs":
        assert body["file"] == "/var/runtime/node_modules/@aws-sdk/client-lambda/dist-cjs/index.js"


def test_the_sdk_is_refused_what_the_role_does_not_allow(lam, caller_role: str) -> None:  # type: ignore[no-untyped-def]
    """The SDK calls with the role's credentials, not the platform's: another function is out of reach."""
    other = unique("sdk-other")
    create(lam, other, "python3.13", "app.handler", {"app.py": TARGET}, caller_role)
    name = unique("sdk-boto3-denied")
    create(lam, name, "python3.13", "app.handler", {"app.py": BOTO3_CALLER}, caller_role)
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"target": other}).encode())
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ClientError" and "AccessDeniedException" in error["errorMessage"]


def test_a_bundled_boto3_wins_over_the_runtimes(lam, caller_role: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("sdk-own-boto3")
    create(lam, name, "python3.13", "app.handler", BUNDLED_BOTO3, caller_role)
    assert invoke(lam, name, {}) == {"sdk": "0.0.0-bundled", "file": "/var/task/boto3/__init__.py"}


@pytest.mark.parametrize(("handler", "expected"), [
    ("esm.handler", {"bundled": True, "client": "function"}),
    ("cjs.handler", {"bundled": True, "file": "/var/task/node_modules/@aws-sdk/client-lambda/index.js"}),
])
def test_a_bundled_sdk_v3_client_wins_over_the_runtimes(lam, caller_role: str, handler: str,  # type: ignore[no-untyped-def]
                                                       expected: dict) -> None:
    name = unique("sdk-own-client")
    create(lam, name, "nodejs20.x", handler, BUNDLED_CLIENT_LAMBDA, caller_role)
    assert invoke(lam, name, {}) == expected


@pytest.mark.parametrize(("runtime", "handler", "files"), [
    ("python3.13", "app.handler", {"app.py": (
        "import sys\n\n\ndef handler(event, context):\n"
        "    return sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 's3transfer', 'urllib3', 'dateutil', 'jmespath'))\n")}),
    ("nodejs20.x", "index.handler", {"index.js": (
        "exports.handler = async () => Object.keys(require.cache).filter((file) => file.includes('node_modules'));\n")}),
])
def test_the_bootstrap_never_loads_the_sdk(lam, caller_role: str, runtime: str, handler: str,  # type: ignore[no-untyped-def]
                                           files: dict[str, str]) -> None:
    """A function that does not import the SDK does not pay for it: the cold start stays the runtime's."""
    name = unique("sdk-unused")
    create(lam, name, runtime, handler, files, caller_role)
    assert invoke(lam, name, {}) == []


def test_images_build_says_so_when_the_package_index_cannot_be_reached() -> None:
    """The SDK is fetched when an image is built; a host without PyPI gets the reason, not a bad image."""
    client = docker.from_env()
    prefix = unique("faas-sdk-offline")
    # A new prefix, so python3.13 has to be built; its base is the existing one, tagged for the prefix.
    client.images.get(images.base_ref("faas")).tag(*images.base_ref(prefix).rsplit(":", 1))
    with socket.socket() as probe:  # a local port nothing listens on stands for an unreachable index
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "PIP_"))}
    env.update(FAAS_IMAGE_PREFIX=prefix, PIP_CONFIG_FILE=os.devnull, PIP_RETRIES="0", PIP_NO_CACHE_DIR="1",
               PIP_INDEX_URL=f"http://127.0.0.1:{closed_port}/simple")
    try:
        done = subprocess.run([sys.executable, "-m", "faas", "images", "build", "--runtime", "python3.13"],
                              env=env, capture_output=True, text=True, timeout=300)
    finally:
        client.images.remove(images.base_ref(prefix))  # the tag only: the base image stays
        client.close()
    assert done.returncode == 2, done.stderr
    assert "python3.13: fetching the Python packages pinned in sdk/requirements.txt (pip download)..." in done.stderr
    assert ("python3.13: cannot download the Python packages pinned in sdk/requirements.txt; is the package "
            "index (PyPI, or the one pip is configured with) reachable from this host?") in done.stderr
    assert done.stdout == ""
