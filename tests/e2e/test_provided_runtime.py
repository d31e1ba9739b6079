"""The OS-only runtimes (provided.al2023, provided.al2): the zip's own executable `bootstrap` speaks
the Runtime API, as Go, Rust, C++ and shell functions do on Lambda. A statically linked Go binary
is built here from the standard library only (the host's `go`, `deploy/dev.sh test` installs it);
a shell bootstrap uses the image's curl."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import zipfile

import pytest

from tests.e2e.conftest import ROLE, environments, prewarmed, unique, wait_for

pytestmark = pytest.mark.docker

GO_MAIN = r'''
package main

import (
	"bytes"
	"encoding/json"
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
		event, _ := io.ReadAll(next.Body)
		next.Body.Close()
		id := next.Header.Get("Lambda-Runtime-Aws-Request-Id")
		var input map[string]interface{}
		json.Unmarshal(event, &input)
		if input["fail"] == true {
			body, _ := json.Marshal(map[string]string{"errorMessage": "asked to fail", "errorType": "GoFailure"})
			request, _ := http.NewRequest("POST", api+"/invocation/"+id+"/error", bytes.NewReader(body))
			request.Header.Set("Lambda-Runtime-Function-Error-Type", "GoFailure")
			if answer, err := http.DefaultClient.Do(request); err == nil {
				answer.Body.Close()
			}
			continue
		}
		body, _ := json.Marshal(map[string]interface{}{
			"requestId": id, "handler": os.Getenv("_HANDLER"), "taskRoot": os.Getenv("LAMBDA_TASK_ROOT"),
			"executionEnv": os.Getenv("AWS_EXECUTION_ENV"), "prewarmFlag": os.Getenv("FAAS_PREWARMED"),
			"secret": os.Getenv("SECRET"), "function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "event": input,
		})
		if answer, err := http.Post(api+"/invocation/"+id+"/response", "application/json", bytes.NewReader(body)); err == nil {
			answer.Body.Close()
		}
	}
}
'''

# One invocation at a time: the response reports who runs it and what the sandbox lets it do.
SHELL_BOOTSTRAP = r'''#!/bin/sh
set -eu
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
    headers=$(mktemp)
    event=$(curl -sS -D "$headers" "$api/invocation/next")
    id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | cut -d' ' -f2 | tr -d '\r')
    rm -f "$headers"
    root=writable; touch /etc/faas-probe 2>/dev/null || root=read-only
    task=writable; touch /var/task/faas-probe 2>/dev/null || task=read-only
    tmp=writable; touch /tmp/faas-probe 2>/dev/null || tmp=read-only
    caps=$(grep '^CapEff:' /proc/self/status | cut -f2)
    body=$(printf '{"uid":%s,"gid":%s,"root":"%s","task":"%s","tmp":"%s","capEff":"%s","handler":"%s","cwd":"%s","event":%s}' \
        "$(id -u)" "$(id -g)" "$root" "$task" "$tmp" "$caps" "$_HANDLER" "$(pwd)" "$event")
    curl -sS -o /dev/null -X POST --data-binary "$body" "$api/invocation/$id/response"
done
'''


def zip_bootstrap(content: bytes, mode: int = 0o755) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
        info.create_system = 3  # unix: the high 16 bits of external_attr are the file's mode
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def go_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is needed to build the test's bootstrap: apt-get install -y golang-go")
    work = tmp_path_factory.mktemp("go")
    (work / "main.go").write_text(GO_MAIN)
    (work / "go.mod").write_text("module bootstrap\n\ngo 1.19\n")  # the oldest go a Debian host may have
    # Standard library only, so nothing is downloaded: no proxy, no other toolchain.
    env = {**os.environ, "CGO_ENABLED": "0", "GOCACHE": str(work / "cache"), "GOPATH": str(work / "gopath"),
           "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    built = subprocess.run([go, "build", "-o", str(work / "bootstrap"), "."], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    binary = (work / "bootstrap").read_bytes()
    assert b"ld-linux" not in binary  # statically linked: no dynamic loader asked for
    return binary


def invoke(lam, name: str, event: dict):  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    return response, json.loads(response["Payload"].read()), base64.b64decode(response["LogResult"]).decode()


def test_a_static_go_bootstrap_runs_in_a_prewarmed_environment(server, lam, go_bootstrap) -> None:
    # prewarming is on by default (FAAS_PREWARM_PER_RUNTIME=2): one pool serves both provided names
    ready = wait_for(lambda: len(prewarmed(server, "provided.al2023")) == 2 and prewarmed(server, "provided.al2023"))
    assert prewarmed(server, "provided.al2") == []
    generic_ids = {e["ContainerId"] for e in ready}

    name = unique("go")
    created = lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="anything",
                                  Code={"ZipFile": zip_bootstrap(go_bootstrap)},
                                  Environment={"Variables": {"SECRET": "it's \"quoted\" $HOME `id`"}})
    assert created["Runtime"] == "provided.al2023" and created["Handler"] == "anything"
    response, body, log = invoke(lam, name, {"hello": "world"})
    assert "FunctionError" not in response
    assert body == {"requestId": response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"],
                    "handler": "anything", "taskRoot": "/var/task", "executionEnv": "", "prewarmFlag": "",
                    "secret": "it's \"quoted\" $HOME `id`", "function": name, "event": {"hello": "world"}}
    assert re.search(r"Init Duration: [\d.]+ ms", log)

    bound = [e for e in environments(server) if e["FunctionName"] == name]
    assert len(bound) == 1 and bound[0]["Prewarmed"] and bound[0]["ContainerId"] in generic_ids

    response, body, _ = invoke(lam, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "asked to fail", "errorType": "GoFailure"}
    # the environment survives a reported error and serves the next invocation
    assert invoke(lam, name, {"again": 1})[1]["event"] == {"again": 1}
    assert [e["ContainerId"] for e in environments(server) if e["FunctionName"] == name] == [bound[0]["ContainerId"]]


def test_a_shell_bootstrap_with_curl_runs_hardened_on_provided_al2(server, lam) -> None:
    name = unique("sh")
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="function.handler",
                        Code={"ZipFile": zip_bootstrap(SHELL_BOOTSTRAP.encode())})
    response, body, _ = invoke(lam, name, {"n": 1})
    assert "FunctionError" not in response
    assert body == {"uid": 993, "gid": 993, "root": "read-only", "task": "read-only", "tmp": "writable",
                    "capEff": "0000000000000000", "handler": "function.handler", "cwd": "/var/task",
                    "event": {"n": 1}}
    assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "provided.al2"
    bound = [e for e in environments(server) if e["FunctionName"] == name]
    assert len(bound) == 1 and bound[0]["Runtime"] == "provided.al2"


@pytest.mark.parametrize("mode", [None, 0o644], ids=["missing", "not-executable"])
def test_without_a_valid_bootstrap_the_init_error_says_so(lam, mode) -> None:  # type: ignore[no-untyped-def]
    name = unique("noboot")
    files = zip_bootstrap(b"#!/bin/sh\necho never\n", mode) if mode is not None else _zip_of("main.go", b"x")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="anything",
                        Code={"ZipFile": files})
    response, body, log = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert body["errorMessage"] == "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
    assert "Couldn't find valid bootstrap(s)" in log  # the init log comes with the first invocation's


def _zip_of(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, content)
    return buffer.getvalue()
