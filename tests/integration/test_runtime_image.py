"""The runtime images in real containers, hardened as the platform runs them, against a fake Runtime API."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from faas.sandbox.images import ALIASES, RUNTIMES, ensure_images, image_ref
from tests.support.fake_runtime_api import FakeRuntimeApi
from tests.support.images import build_awslambdaric_image

pytestmark = pytest.mark.docker

PREFIX = "faas"  # the platform's default: built once on a machine, reused by every run


@pytest.fixture(scope="module")
def client():
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"Docker is not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def python_image(client) -> str:
    return ensure_images(client, prefix=PREFIX, progress=print, runtimes=["python3.13"])["python3.13"]


@pytest.fixture(scope="module")
def node_image(client) -> str:
    return ensure_images(client, prefix=PREFIX, progress=print, runtimes=["nodejs20.x"])["nodejs20.x"]


@pytest.fixture(scope="module")
def bridge_gateway(client) -> str:
    """The host's address on Docker's default bridge, where a container reaches the host."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def start_hardened(client, image: str, environment: dict[str, str], code_dir: Path | None = None):
    """Start a container the way the sandbox does."""
    volumes = {str(code_dir): {"bind": "/var/task", "mode": "ro"}} if code_dir else {}
    return client.containers.run(
        image, detach=True, environment=environment, volumes=volumes, user="993:993", read_only=True,
        tmpfs={"/tmp": "size=64m"}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
        pids_limit=256, mem_limit="256m", labels={"faas.test": "runtime-image"})


def wait_and_remove(container) -> tuple[int, str]:
    try:
        exit_code = container.wait(timeout=60)["StatusCode"]
        return exit_code, container.logs().decode()
    finally:
        container.remove(force=True)


def run_hardened(client, image: str, environment: dict[str, str], code_dir: Path | None = None):
    """Run a container the way the sandbox does; return (exit code, container output)."""
    return wait_and_remove(start_hardened(client, image, environment, code_dir))


def code_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    """The function's code, world-readable: the sandbox user is not its owner (as with the code cache)."""
    code = tmp_path / "code"
    code.mkdir(mode=0o755)
    code.chmod(0o755)
    for name, text in files.items():
        (code / name).write_text(text)
        (code / name).chmod(0o644)
    return code


def lambda_env(api: FakeRuntimeApi, **extra: str) -> dict[str, str]:
    return {"AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn", **extra}


def test_ensure_images_builds_once_and_then_reuses(client, python_image, node_image):
    lines: list[str] = []
    again = ensure_images(client, prefix=PREFIX, progress=lines.append)
    assert lines == []  # nothing built, nothing to report
    assert again == {runtime: image_ref(PREFIX, runtime) for runtime in RUNTIMES}
    assert (again["python3.13"], again["nodejs20.x"]) == (python_image, node_image)
    for runtime, image in again.items():
        labels = client.images.get(image).labels
        assert labels["faas.recipe"] == ALIASES.get(runtime, runtime)  # provided.al2 is provided.al2023's image
        assert image.endswith(":" + labels["faas.recipe-hash"][:12])


def test_python_image_serves_an_invocation_read_only_as_uid_993(client, python_image, bridge_gateway, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import os, subprocess\n"
        "print('init output')\n"
        "def handler(event, context):\n"
        "    print('handler output')\n"
        "    subprocess.run(['sh', '-c', 'echo child output >&2'])\n"
        "    with open('/tmp/scratch', 'w') as f:\n"
        "        f.write('tmp is writable')\n"
        "    try:\n"
        "        open('/var/task/nope', 'w')\n"
        "        task_writable = True\n"
        "    except OSError:\n"
        "        task_writable = False\n"
        "    return {'echo': event, 'uid': os.getuid(), 'cwd': os.getcwd(), 'home': os.environ['HOME'],\n"
        "            'task_writable': task_writable, 'request_id': context.aws_request_id,\n"
        "            'function_name': context.function_name, 'memory': context.memory_limit_in_mb,\n"
        "            'remaining_ms': context.get_remaining_time_in_millis()}\n")
    # The sandbox user is not the owner: the code must be world-readable, as the platform's code cache.
    code.chmod(0o755)
    (code / "app.py").chmod(0o644)

    with FakeRuntimeApi(bridge_gateway) as api:
        event = api.add({"hello": "container"})
        exit_code, output = run_hardened(client, python_image, lambda_env(api, _HANDLER="app.handler"), code)

    assert exit_code == 1, output  # the fake answered the second /next with 500
    [response] = api.posts("/response")
    assert response.path == f"/invocation/{event.request_id}/response"
    body = response.json()
    assert body["echo"] == {"hello": "container"}
    assert body["request_id"] == event.request_id
    assert (body["uid"], body["cwd"], body["home"], body["task_writable"]) == (993, "/var/task", "/tmp", False)
    assert (body["function_name"], body["memory"]) == ("fn", "256")
    assert 0 < body["remaining_ms"] <= 30_000
    # The function's output is the container's (the platform redirects it to a pipe of its own).
    for line in ("init output", "handler output", "child output", "faas bootstrap: GET /invocation/next answered 500"):
        assert line in output


def test_python_image_reports_init_errors(client, python_image, bridge_gateway, tmp_path):
    code = tmp_path / "code"
    code.mkdir(mode=0o755)
    (code / "app.py").write_text("import not_installed\n")
    (code / "app.py").chmod(0o644)
    with FakeRuntimeApi(bridge_gateway) as api:
        exit_code, _ = run_hardened(client, python_image, lambda_env(api, _HANDLER="app.handler"), code)
    assert exit_code == 1
    assert [c.path for c in api.calls] == ["/init/error"]
    assert api.calls[0].json()["errorType"] == "Runtime.ImportModuleError"


NODE_APP = """
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

console.log('init output');

export const handler = async (event, context) => {
  console.log('handler output');
  process.stderr.write('raw stderr\\n');
  fs.writeFileSync('/tmp/scratch', 'tmp is writable');
  let taskWritable = true;
  try {
    fs.writeFileSync('/var/task/nope', 'x');
  } catch {
    taskWritable = false;
  }
  return {
    echo: event, uid: process.getuid(), cwd: process.cwd(), home: os.homedir(), user: os.userInfo().username,
    taskWritable, nodeVersion: process.version, nodePath: process.env.NODE_PATH, tz: process.env.TZ,
    requestId: context.awsRequestId, functionName: context.functionName, memory: context.memoryLimitInMB,
    remainingMs: context.getRemainingTimeInMillis(),
    child: execFileSync('sh', ['-c', 'echo child output']).toString(),
  };
};
"""


def test_node_image_serves_an_invocation_read_only_as_uid_993(client, node_image, bridge_gateway, tmp_path):
    code = code_dir(tmp_path, {"app.mjs": NODE_APP})
    with FakeRuntimeApi(bridge_gateway) as api:
        event = api.add({"hello": "node"})
        exit_code, output = run_hardened(client, node_image, lambda_env(api, _HANDLER="app.handler"), code)

    assert exit_code == 1, output  # the fake answered the second /next with 500
    [response] = api.posts("/response")
    assert response.path == f"/invocation/{event.request_id}/response"
    body = response.json()
    assert body["echo"] == {"hello": "node"}
    assert body["requestId"] == event.request_id
    assert (body["uid"], body["cwd"], body["home"], body["user"]) == (993, "/var/task", "/tmp", "sbx_user1051")
    assert body["taskWritable"] is False
    assert body["nodeVersion"].startswith("v20.")
    assert body["nodePath"].endswith(":/var/runtime:/var/task") and body["tz"] == ":UTC"
    assert (body["functionName"], body["memory"]) == ("fn", "256")
    assert 0 < body["remainingMs"] <= 30_000
    assert body["child"] == "child output\n"
    # The function's output is the container's (the platform redirects it to a pipe of its own).
    assert "\tundefined\tINFO\tinit output\n" in output
    assert f"\t{event.request_id}\tINFO\thandler output\n" in output
    assert "raw stderr\n" in output and "faas bootstrap: GET /invocation/next answered 500" in output


def test_node_image_reports_init_errors(client, node_image, bridge_gateway, tmp_path):
    code = code_dir(tmp_path, {"app.js": "require('not-installed');\n"})
    with FakeRuntimeApi(bridge_gateway) as api:
        exit_code, _ = run_hardened(client, node_image, lambda_env(api, _HANDLER="app.handler"), code)
    assert exit_code == 1
    assert [c.path for c in api.calls] == ["/init/error"]
    assert api.calls[0].json()["errorType"] == "Runtime.ImportModuleError"


PREWARMED_CODE = {
    "python3.13": ("app.py", "import os\n"
                             "print('init of', os.environ['AWS_LAMBDA_FUNCTION_NAME'])\n"
                             "def handler(event, context):\n"
                             "    return {'echo': event, 'name': context.function_name,\n"
                             "            'custom': os.environ['GREETING'], 'prewarmed': os.environ.get('FAAS_PREWARMED'),\n"
                             "            'uid': os.getuid()}\n"),
    "nodejs20.x": ("app.mjs", "console.log('init of', process.env.AWS_LAMBDA_FUNCTION_NAME);\n"
                              "export const handler = async (event, context) => ({ echo: event,\n"
                              "  name: context.functionName, custom: process.env.GREETING,\n"
                              "  prewarmed: process.env.FAAS_PREWARMED ?? null, uid: process.getuid() });\n"),
}


@pytest.mark.parametrize("runtime", ["python3.13", "nodejs20.x"])
def test_prewarmed_container_is_specialised_then_serves_the_function(
        client, runtime, python_image, node_image, bridge_gateway, tmp_path):
    image = {"python3.13": python_image, "nodejs20.x": node_image}[runtime]
    slot = code_dir(tmp_path, {})  # empty: the platform fills it on the host before specialising
    with FakeRuntimeApi(bridge_gateway) as api:
        event = api.add({"hello": "prewarmed"})
        container = start_hardened(client, image, {
            "FAAS_PREWARMED": "1", "AWS_LAMBDA_RUNTIME_API": api.address, "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime", "TZ": ":UTC", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, slot)
        try:
            api.wait_for_call("GET", "/faas/specialize", timeout=30)
            time.sleep(0.2)
            assert [c.path for c in api.calls] == ["/faas/specialize"]
            name, text = PREWARMED_CODE[runtime]
            (slot / name).write_text(text)
            (slot / name).chmod(0o644)
            api.specialize({"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "fn",
                            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn", "GREETING": "hello"})
        finally:
            exit_code, output = wait_and_remove(container)

    assert exit_code == 1, output  # out of events
    [response] = api.posts("/response")
    assert response.path == f"/invocation/{event.request_id}/response"
    assert response.json() == {"echo": {"hello": "prewarmed"}, "name": "fn", "custom": "hello",
                               "prewarmed": None, "uid": 993}
    assert "init of fn" in output


def test_awslambdaric_image_serves_an_invocation(client, python_image, bridge_gateway):
    image = build_awslambdaric_image(client, python_image)
    with FakeRuntimeApi(bridge_gateway) as api:
        event = api.add(json.dumps({"via": "awslambdaric"}))
        exit_code, output = run_hardened(client, image, lambda_env(api))

    assert exit_code != 0  # awslambdaric exits when /next fails
    [response] = api.posts("/response")
    assert response.path == f"/invocation/{event.request_id}/response"
    body = response.json()
    assert body["echo"] == {"via": "awslambdaric"}
    assert (body["request_id"], body["function_name"]) == (event.request_id, "fn")
    assert 0 < body["remaining_ms"] <= 30_000
    assert f"awslambdaric handler invoked: {event.request_id}" in output


@pytest.fixture(autouse=True)
def _no_leftover_containers(client):
    yield
    leftovers = client.containers.list(all=True, filters={"label": "faas.test=runtime-image"})
    for container in leftovers:
        container.remove(force=True)
    assert not leftovers

