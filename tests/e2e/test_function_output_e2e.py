"""Everything a function writes to its stdout and stderr reaches its log (Tail and `faas logs`): AWS's own
awslambdaric in an image function, child processes, a custom runtime's shell bootstrap, output printed
just before the environment crashed, and far more output than the log keeps."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import docker
import pytest

from faas.dispatch.logs import MAX_STORED_LOG_CHARS, TAIL_BYTES
from faas.sandbox import images
from tests.e2e.conftest import ROLE, Server, make_zip, unique, wait_for
from tests.support.images import build_awslambdaric_image

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The awslambdaric test image's repository (faas-test/) is one the operator allows besides the platform's own."""
    srv = Server(tmp_path_factory.mktemp("faas") / "data",
                 extra_env={"FAAS_IMAGE_REPOSITORIES": "faas/, faas-test/"}).start()
    yield srv
    srv.stop()


def tail(response: dict) -> str:
    return base64.b64decode(response["ResponseMetadata"]["HTTPHeaders"]["x-amz-log-result"]).decode()


def invoke(lam, name: str, event: dict | None = None) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, LogType="Tail", Payload=json.dumps(event or {}).encode())
    return response, tail(response)


def faas_logs(server: Server, name: str) -> str:
    """`faas logs <name>` as a user runs it, with only the data dir to find the platform."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"FAAS_DATA_DIR": str(server.data_dir), "HOME": str(server.data_dir.parent)})
    result = subprocess.run([sys.executable, "-m", "faas", "logs", name], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_for_stored(server: Server, name: str, request_id: str) -> str:
    """The invocation's log as stored (records are written in batches)."""
    return wait_for(lambda: next((r["Log"] for r in server.get_json(f"/faas/v1/functions/{name}/logs?limit=10")
                                  ["Invocations"] if r["RequestId"] == request_id), None), timeout=30)


def python_function(lam, code: str, **extra) -> str:  # type: ignore[no-untyped-def]
    name = unique("out")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})}, Timeout=30, **extra)
    return name


# -- AWS's runtime interface client -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ric_image() -> str:
    return build_awslambdaric_image(docker.from_env(), images.image_ref("faas", "python3.13"))


def test_awslambdaric_prints_reach_tail_and_faas_logs(server: Server, lam, ric_image: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("ricout")
    lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": ric_image}, Timeout=10)
    for _ in range(2):  # cold, then warm
        response, log = invoke(lam, name, {"n": 1})
        request_id = response["ResponseMetadata"]["RequestId"]
        assert "FunctionError" not in response
        # awslambdaric writes to the container's stdout: between START and END, once
        lines = log.splitlines()
        assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
        assert lines.count(f"awslambdaric handler invoked: {request_id}") == 1
        assert lines.index(f"awslambdaric handler invoked: {request_id}") < lines.index(f"END RequestId: {request_id}")
    assert f"awslambdaric handler invoked: {request_id}" in wait_for_stored(server, name, request_id)
    assert f"awslambdaric handler invoked: {request_id}" in faas_logs(server, name)


# -- child processes and custom runtimes ------------------------------------------------------------------

CHILD = """
import subprocess, sys

print("init line")

def handler(event, context):
    print("parent line")
    subprocess.run(["sh", "-c", "echo from child; echo child to stderr >&2"], check=True)
    print("after the child", file=sys.stderr)
    return "ok"
"""


def test_a_child_processs_output_is_in_order_between_start_and_end(lam) -> None:  # type: ignore[no-untyped-def]
    name = python_function(lam, CHILD)
    response, log = invoke(lam, name)
    request_id = response["ResponseMetadata"]["RequestId"]
    body = log.split(f"START RequestId: {request_id} Version: $LATEST\n", 1)[1].split(f"END RequestId: {request_id}")[0]
    assert body == "init line\nparent line\nfrom child\nchild to stderr\nafter the child\n"  # each line once
    _, warm = invoke(lam, name)
    assert "init line" not in warm and warm.count("from child") == 1


NODE_CHILD = """
const { execFileSync } = require('node:child_process');
exports.handler = async () => {
    console.log('parent');
    execFileSync('sh', ['-c', 'echo from child; echo child err >&2'], { stdio: 'inherit' });
    return 'ok';
};
"""


def test_a_node_child_with_inherited_stdio_reaches_the_log(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("nodeout")
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.js": NODE_CHILD})}, Timeout=30)
    response, log = invoke(lam, name)
    assert "FunctionError" not in response
    assert "\tINFO\tparent\nfrom child\nchild err\n" in log


SHELL_BOOTSTRAP = r'''#!/bin/sh
set -eu
echo "shell init"
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
    headers=$(mktemp)
    curl -sS -D "$headers" -o /tmp/event "$api/invocation/next"
    id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | cut -d' ' -f2 | tr -d '\r')
    echo "handling $id"
    echo "warning on stderr" >&2
    curl -sS -o /dev/null -X POST --data-binary '"done"' "$api/invocation/$id/response"
done
'''


def zip_bootstrap(content: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
        info.create_system = 3  # unix: the high 16 bits of external_attr are the file's mode
        info.external_attr = (0o100000 | 0o755) << 16
        archive.writestr(info, content)
    return buffer.getvalue()


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_shell_bootstraps_echo_reaches_the_log(lam, log_format: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("shout")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="function.handler",
                        Code={"ZipFile": zip_bootstrap(SHELL_BOOTSTRAP)}, Timeout=30,
                        LoggingConfig={"LogFormat": log_format})
    for expect_init in (True, False):
        response, log = invoke(lam, name)
        request_id = response["ResponseMetadata"]["RequestId"]
        assert json.loads(response["Payload"].read()) == "done"
        lines = log.splitlines()
        assert ("shell init" in lines) is expect_init
        assert f"handling {request_id}" in lines and "warning on stderr" in lines
        if log_format == "JSON":  # the function's lines pass through as text between the platform's records
            assert json.loads(lines[0])["type"] == "platform.start"
            assert json.loads(lines[-1])["type"] == "platform.report"


# -- crashes ---------------------------------------------------------------------------------------------

CRASH = """
import os, signal, sys

def handler(event, context):
    print("last words of", context.aws_request_id)
    sys.stdout.flush()  # os._exit skips Python's own flushing, as on AWS
    if event["how"] == "exit":
        os._exit(1)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how, reason", [("exit", "exit status 1"), ("kill", "signal: killed")])
def test_an_invocation_whose_environment_crashes_keeps_what_it_printed(
        server: Server, lam, how: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    name = python_function(lam, CRASH)
    response, log = invoke(lam, name, {"how": how})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ExitError"
    assert f"last words of {request_id}\n" in log
    assert log.index(f"last words of {request_id}") < log.index(f"Runtime exited with error: {reason}")
    assert f"last words of {request_id}" in wait_for_stored(server, name, request_id)


# -- bounds ----------------------------------------------------------------------------------------------

BIG = """
import sys

def handler(event, context):
    line = "x" * 1023 + "\\n"
    for _ in range(event["mib"] * 1024):
        sys.stdout.write(line)
    print("the last line")
    return "written"
"""


def test_output_far_beyond_the_log_is_bounded_and_keeps_its_end(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = python_function(lam, BIG, MemorySize=256)
    response, log = invoke(lam, name, {"mib": 64})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert json.loads(response["Payload"].read()) == "written"
    assert len(log.encode()) <= TAIL_BYTES and "the last line\nEND RequestId: " in log
    stored = wait_for_stored(server, name, request_id)
    assert stored.startswith(f"START RequestId: {request_id} Version: $LATEST\n[faas] earlier output truncated\n")
    assert len(stored) < MAX_STORED_LOG_CHARS + 1024
    assert "the last line\nEND RequestId: " in stored
    _, warm = invoke(lam, name, {"mib": 0})  # the next invocation starts afresh
    assert "truncated" not in warm and "x" * 1023 not in warm


# -- the pipe's own limits -------------------------------------------------------------------------------

PROBE = """
def handler(event, context):
    try:
        open("/dev/faas-output", "rb")
        readable = True
    except PermissionError:
        readable = False
    with open("/dev/faas-output", "w") as pipe:  # writing to it is writing to stdout
        pipe.write("written to the pipe directly\\n")
    return {"readable": readable, "mounts": [line.split()[3] for line in open("/proc/self/mountinfo")
                                             if line.split()[4] == "/dev/faas-output"]}
"""


def test_the_function_may_write_its_pipe_but_not_read_it(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = python_function(lam, PROBE)
    response, log = invoke(lam, name)
    body = json.loads(response["Payload"].read())
    assert body["readable"] is False  # its output is the platform's to take
    [source] = body["mounts"]
    assert source.rsplit("/", 2)[1] == "outputs" and len(source.rsplit("/", 1)[1]) == 16  # random, as the slots'
    assert str(server.data_dir) not in source
    assert "written to the pipe directly\n" in log


GO_SCRATCH = r'''
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime"
	for {
		next, err := http.Get(api + "/invocation/next")
		if err != nil {
			os.Exit(1)
		}
		io.Copy(io.Discard, next.Body)
		next.Body.Close()
		id := next.Header.Get("Lambda-Runtime-Aws-Request-Id")
		fmt.Println("printed by a shell-less image")
		if answer, err := http.Post(api+"/invocation/"+id+"/response", "application/json", bytes.NewReader([]byte(`"scratch"`))); err == nil {
			answer.Body.Close()
		}
	}
}
'''


@pytest.fixture(scope="module")
def scratch_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image FROM scratch: a static Go binary (the host's `go`, standard library only) and nothing else."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain on this host (deploy/dev.sh test installs golang-go)")
    work = tmp_path_factory.mktemp("scratch")
    (work / "main.go").write_text(GO_SCRATCH)
    (work / "go.mod").write_text("module scratch\n\ngo 1.19\n")
    env = {**os.environ, "CGO_ENABLED": "0", "GOCACHE": str(work / "cache"), "GOPATH": str(work / "gopath"),
           "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    built = subprocess.run([go, "build", "-o", str(work / "runtime"), "."], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (work / "Dockerfile").write_text("FROM scratch\nCOPY runtime /runtime\nENTRYPOINT [\"/runtime\"]\n")
    digest = hashlib.sha256((work / "runtime").read_bytes()).hexdigest()[:12]
    ref = f"faas-test/scratch-go:{digest}"
    docker.from_env().images.build(path=str(work), tag=ref, rm=True, labels={"faas.recipe": "test-scratch-go"})
    return ref


def test_an_image_without_a_shell_still_runs_its_output_left_to_docker(lam, scratch_image: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("scratch")
    lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": scratch_image},
                        Timeout=10)
    response, log = invoke(lam, name)
    assert "FunctionError" not in response and json.loads(response["Payload"].read()) == "scratch"
    # The documented limit: without /bin/sh the container's streams cannot be redirected to the pipe.
    assert "printed by a shell-less image" not in log and "END RequestId" in log
