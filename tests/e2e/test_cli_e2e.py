"""The `faas` CLI as a user runs it: a subprocess that finds a real `faas serve` through its data dir alone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faas.cli.packaging import code_sha256, zip_directory
from tests.e2e.conftest import REPO, Server, unique

pytestmark = pytest.mark.docker

HELLO = REPO / "examples" / "hello"
LOG_BATCH_WAIT_S = 10.0  # invocation records are written in batches every 0.5 s


def cli_env(data_dir: Path, home: Path) -> dict[str, str]:
    """The shell of a user who only knows where the data dir is: no AWS_* or FAAS_* settings at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"FAAS_DATA_DIR": str(data_dir), "HOME": str(home)})
    return env


def faas(data_dir: Path, home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faas", *args], env=cli_env(data_dir, home), cwd=home,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return faas(server.data_dir, home, *args, timeout=timeout)
    return run


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def copy_hello(tmp_path: Path) -> Path:
    code = tmp_path / "hello"
    shutil.copytree(HELLO, code, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def deploy(run, code: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return run("deploy", str(code), "--name", name, "--runtime", "python3.13", "--handler", "app.handler", *extra)


def test_deploy_invoke_redeploy_logs_ls_rm(run, lam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = copy_hello(tmp_path)
    name = unique("cli-hello")

    created = ok(deploy(run, code, name, "--memory", "256", "--timeout", "5"))
    assert created.stdout.splitlines()[0] == f"created {name}"
    assert f"FunctionArn: arn:aws:lambda:us-east-1:000000000000:function:{name}" in created.stdout
    first_sha = code_sha256(zip_directory(code))
    assert f"CodeSha256:  {first_sha}" in created.stdout
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == first_sha

    invoked = ok(run("invoke", name, "--payload", '{"name": "x"}'))
    result = json.loads(invoked.stdout)
    assert result["message"] == "Hello, x!"
    first_request = result["requestId"]

    logged = ok(run("invoke", name, "--log"))
    assert json.loads(logged.stdout)["message"] == "Hello, world!"
    request_id = json.loads(logged.stdout)["requestId"]
    lines = logged.stderr.splitlines()
    assert f"START RequestId: {request_id} Version: $LATEST" in lines
    assert any(line.startswith(f"greeting world from {name} (") for line in lines), logged.stderr
    assert f"END RequestId: {request_id}" in lines
    assert any(line.startswith(f"REPORT RequestId: {request_id}\tDuration: ") for line in lines), logged.stderr
    assert "START" not in logged.stdout  # the log goes to stderr only: stdout stays pipeable JSON

    same = ok(deploy(run, code, name))
    assert same.stdout.splitlines()[0].startswith(f"unchanged {name} ")

    app = code / "app.py"
    app.write_text(app.read_text().replace('f"Hello, {name}!"', 'f"Howdy, {name}!"'))
    updated = ok(deploy(run, code, name))
    assert updated.stdout.splitlines()[0] == f"updated {name}: code"
    second_sha = code_sha256(zip_directory(code))
    assert second_sha != first_sha and f"CodeSha256:  {second_sha}" in updated.stdout
    configuration = lam.get_function(FunctionName=name)["Configuration"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 5)  # not given: unchanged
    assert json.loads(ok(run("invoke", name, "--payload", '{"name": "x"}')).stdout)["message"] == "Howdy, x!"

    listed = ok(run("ls"))
    assert listed.stdout.splitlines()[0].split() == ["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST", "MODIFIED"]
    row = next(line for line in listed.stdout.splitlines() if line.split()[0] == name)
    assert row.split()[1:6] == ["python3.13", "256", "MB", "5", "s"]

    deadline = time.monotonic() + LOG_BATCH_WAIT_S
    while True:
        logs = ok(run("logs", name))
        if all(f"START RequestId: {r} " in logs.stdout for r in (first_request, request_id)) \
                and logs.stdout.count("START RequestId: ") >= 3:
            break
        assert time.monotonic() < deadline, f"the invocations never showed in `faas logs`:\n{logs.stdout}"
        time.sleep(0.3)
    assert logs.stdout.index(first_request) < logs.stdout.index(request_id)  # oldest first
    assert "greeting x from" in logs.stdout and "REPORT RequestId: " in logs.stdout
    last = ok(run("logs", name, "--limit", "1")).stdout
    assert last.count("START RequestId: ") == 1 and first_request not in last

    removed = ok(run("rm", name))
    assert removed.stdout.strip() == f"deleted {name}"
    gone = run("invoke", name)
    assert gone.returncode == 1
    assert "ResourceNotFoundException" in gone.stderr and gone.stdout == ""
    assert name not in ok(run("ls")).stdout
    again = run("rm", name)
    assert again.returncode == 1 and "ResourceNotFoundException" in again.stderr


def test_failing_function_exits_1_and_prints_the_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = tmp_path / "boom"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    raise ValueError('no ' + event['what'])\n")
    name = unique("cli-boom")
    ok(deploy(run, code, name))
    failed = run("invoke", name, "--payload", '{"what": "luck"}')
    assert failed.returncode == 1
    error = json.loads(failed.stdout)
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "no luck"
    assert isinstance(error["stackTrace"], list)
    assert "Unhandled" in failed.stderr


def test_payload_file_and_stdin(run, server: Server, home: Path,  # type: ignore[no-untyped-def]
                                tmp_path: Path) -> None:
    name = unique("cli-file")
    ok(deploy(run, copy_hello(tmp_path), name))
    event = tmp_path / "event.json"
    event.write_text('{"name": "file"}')
    assert json.loads(ok(run("invoke", name, "--payload-file", str(event))).stdout)["message"] == "Hello, file!"
    piped = subprocess.run([sys.executable, "-m", "faas", "invoke", name, "--payload-file", "-"],
                           input='{"name": "pipe"}', env=cli_env(server.data_dir, home), capture_output=True,
                           text=True, timeout=120)
    assert json.loads(ok(piped).stdout)["message"] == "Hello, pipe!"


def test_large_deploy_shows_upload_progress(run, lam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = copy_hello(tmp_path)
    (code / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: the zip stays ~3 MB
    name = unique("cli-big")
    deployed = ok(deploy(run, code, name, "--progress"))
    progress = [line for line in deployed.stderr.splitlines() if line.startswith("uploading ")]
    assert len(progress) >= 3, deployed.stderr
    assert all(re.fullmatch(r"uploading \d+\.\d/\d+\.\d MB \(\d+%\)", line) for line in progress), progress
    assert progress[-1].endswith("(100%)")
    size = len(zip_directory(code))
    assert size > 3 * 1024 * 1024 and f"CodeSize:    {size} bytes" in deployed.stdout
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSize"] == size
    assert json.loads(ok(run("invoke", name)).stdout)["message"] == "Hello, world!"

    (code / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    quiet = ok(deploy(run, code, name))  # stderr is a pipe, not a terminal: no progress unless asked
    assert quiet.stdout.startswith(f"updated {name}: code\n") and "uploading" not in quiet.stderr


def test_invalid_runtime_is_refused_and_nothing_stored(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("cli-cobol")
    refused = run("deploy", str(copy_hello(tmp_path)), "--name", name, "--runtime", "cobol",
                  "--handler", "app.handler")
    assert refused.returncode == 1
    assert "InvalidParameterValueException" in refused.stderr and "cobol" in refused.stderr
    assert refused.stdout == ""
    assert name not in ok(run("ls")).stdout
    missing = run("invoke", name)
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr


def test_refused_redeploy_changes_nothing(run, lam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = copy_hello(tmp_path)
    name = unique("cli-keep")
    ok(deploy(run, code, name))
    before = lam.get_function(FunctionName=name)["Configuration"]
    app = code / "app.py"
    app.write_text(app.read_text().replace('f"Hello, {name}!"', 'f"Bye, {name}!"'))
    refused = run("deploy", str(code), "--name", name, "--runtime", "cobol", "--handler", "app.handler")
    assert refused.returncode == 1 and "InvalidParameterValueException" in refused.stderr
    after = lam.get_function(FunctionName=name)["Configuration"]
    assert (after["Runtime"], after["CodeSha256"]) == (before["Runtime"], before["CodeSha256"])
    assert json.loads(ok(run("invoke", name)).stdout)["message"] == "Hello, world!"


def test_stopped_server_gives_a_hint(tmp_path_factory: pytest.TempPathFactory, home: Path) -> None:
    stopped = Server(tmp_path_factory.mktemp("faas-stopped") / "data").start()
    endpoint = stopped.endpoint
    assert stopped.stop() == 0
    assert (stopped.data_dir / "endpoint").read_text().strip() == endpoint  # left behind: it names a closed port
    for args in (["ls"], ["invoke", "anything"], ["logs", "anything"]):
        result = faas(stopped.data_dir, home, *args, timeout=60)
        assert result.returncode == 1, result
        assert f"cannot connect to {endpoint}" in result.stderr
        assert "faas serve" in result.stderr and str(stopped.data_dir / "endpoint") in result.stderr


@pytest.mark.parametrize("argv", [[], ["serve"], ["images"], ["images", "build"], ["deploy"], ["invoke"],
                                  ["ls"], ["rm"], ["logs"]], ids=lambda argv: " ".join(argv) or "faas")
def test_help_exits_0(argv: list[str], home: Path, tmp_path: Path) -> None:
    result = faas(tmp_path, home, *argv, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: faas {' '.join(argv)}".rstrip()), result.stdout


def test_async_invoke_and_url_verbs(run, server: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("cliweb")
    ok(deploy(run, copy_hello(tmp_path), name))
    request_id = ok(run("invoke", name, "--async", "--payload", '{"name": "queued"}')).stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    deadline = time.monotonic() + 30
    while True:
        records = server.get_json(f"/faas/v1/functions/{name}/logs")["Invocations"]
        if any(r["RequestId"] == request_id for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [r["Outcome"] for r in records if r["RequestId"] == request_id] == ["success"]

    created = ok(run("url", "create", name, "--auth-type", "NONE"))
    url = created.stdout.splitlines()[0]
    assert re.fullmatch(r"http://[a-z0-9]{32}\.lambda-url\.localhost:\d+/", url)
    url_id = url.split("//")[1].split(".")[0]
    status, _, body = server.request("POST", f"/lambda-url/{url_id}/", b'{"name": "web"}', sign=False)
    assert status == 200 and b"Hello, world!" in body  # the URL event has no "name"
    # it answered because the CLI added what a public URL needs to the function's policy
    statements = json.loads(ok(run("permissions", "show", name)).stdout)["Statement"]
    assert {(s["Sid"], s["Action"], s["Principal"], json.dumps(s["Condition"], sort_keys=True))
            for s in statements} == {
        ("FunctionURLAllowPublicAccess", "lambda:InvokeFunctionUrl", "*",
         '{"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}'),
        ("FunctionURLAllowInvokeAction", "lambda:InvokeFunction", "*",
         '{"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}'),
    }
    assert json.loads(ok(run("url", "get", name, "-o", "json")).stdout)["AuthType"] == "NONE"
    ok(run("url", "delete", name))
    assert server.request("POST", f"/lambda-url/{url_id}/", b"{}", sign=False)[0] == 404
    # a new URL keeps the statements the last one left
    recreated = ok(run("url", "create", name, "--auth-type", "NONE"))
    assert "kept the statement FunctionURLAllowPublicAccess" in recreated.stderr
    new_id = recreated.stdout.splitlines()[0].split("//")[1].split(".")[0]
    assert server.request("POST", f"/lambda-url/{new_id}/", b"{}", sign=False)[0] == 200
    ok(run("url", "delete", name))
    refused = run("url", "get", name)
    assert refused.returncode == 1 and "ResourceNotFoundException" in refused.stderr
