"""The AWS CLI against a real `faas serve`: the commands README.md shows, run as a user types them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def aws(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`aws lambda ... --endpoint-url <endpoint>` with only the data dir's credentials file and a region."""
    home = tmp_path_factory.mktemp("home")  # no ~/.aws/config or credentials of the person running the tests
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(home)})

    def aws(*args: str, cwd: Path = home, extra_env: dict[str, str] | None = None) \
            -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "awscli", "lambda", *args, "--endpoint-url", server.endpoint],
                              env={**env, **(extra_env or {})}, cwd=cwd, capture_output=True, text=True,
                              timeout=120)
    return aws


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def test_function_lifecycle_with_the_aws_cli(aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # as README.md packs it: no `zip` binary needed
    subprocess.run([sys.executable, "-m", "zipfile", "-c", str(tmp_path / "hello.zip"), "app.py"],
                   cwd=REPO / "examples" / "hello", check=True)
    name = unique("aws-hello")

    created = json.loads(ok(aws("create-function", "--function-name", name, "--runtime", "python3.13",
                                "--handler", "app.handler", "--role", ROLE,
                                "--zip-file", "fileb://hello.zip", cwd=tmp_path)).stdout)
    assert created["FunctionName"] == name and created["State"] == "Active"
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"

    got = json.loads(ok(aws("get-function", "--function-name", name)).stdout)
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    assert got["Configuration"]["Timeout"] == 3

    listed = json.loads(ok(aws("list-functions")).stdout)
    assert name in [f["FunctionName"] for f in listed["Functions"]]

    # AWS CLI v2 needs `--cli-binary-format raw-in-base64-out` to take a raw JSON payload; v1 (installed here)
    # takes it raw already and refuses that option.
    invoked = json.loads(ok(aws("invoke", "--function-name", name, "--payload", '{"name":"aws"}', "out.json",
                                cwd=tmp_path)).stdout)
    assert invoked["StatusCode"] == 200 and "FunctionError" not in invoked
    assert json.loads((tmp_path / "out.json").read_text())["message"] == "Hello, aws!"
    # The form that works with v1 and v2 alike: the v2 default switched off in the config file.
    config = tmp_path / "config"
    config.write_text("[default]\ncli_binary_format = raw-in-base64-out\n")
    ok(aws("invoke", "--function-name", name, "--payload", '{"name":"both"}', "out.json", cwd=tmp_path,
           extra_env={"AWS_CONFIG_FILE": str(config)}))
    assert json.loads((tmp_path / "out.json").read_text())["message"] == "Hello, both!"

    tailed = json.loads(ok(aws("invoke", "--function-name", name, "--log-type", "Tail", "out.json",
                               cwd=tmp_path)).stdout)
    request_id = json.loads((tmp_path / "out.json").read_text())["requestId"]
    log = base64.b64decode(tailed["LogResult"]).decode()
    assert f"START RequestId: {request_id} Version: $LATEST" in log
    assert f"greeting world from {name}" in log and f"REPORT RequestId: {request_id}" in log
    # the README's one-liner: the log tail alone, as text, through `base64 -d`
    text = ok(aws("invoke", "--function-name", name, "--log-type", "Tail", "--query", "LogResult",
                  "--output", "text", "out.json", cwd=tmp_path)).stdout
    assert "END RequestId: " in base64.b64decode(text.strip()).decode()

    updated = json.loads(ok(aws("update-function-configuration", "--function-name", name, "--timeout", "5")).stdout)
    assert updated["Timeout"] == 5 and updated["CodeSha256"] == created["CodeSha256"]
    assert json.loads(ok(aws("get-function-configuration", "--function-name", name)).stdout)["Timeout"] == 5

    deleted = ok(aws("delete-function", "--function-name", name))
    assert json.loads(deleted.stdout or "{}").get("StatusCode", 204) == 204  # newer botocore shows the 204
    missing = aws("get-function", "--function-name", name)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr and name in missing.stderr
    assert name not in ok(aws("list-functions")).stdout


def test_failing_function_reports_function_error(aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "boom.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    raise KeyError('nope')\n"}))
    name = unique("aws-boom")
    ok(aws("create-function", "--function-name", name, "--runtime", "python3.13", "--handler", "app.handler",
           "--role", ROLE, "--zip-file", "fileb://boom.zip", cwd=tmp_path))
    invoked = json.loads(ok(aws("invoke", "--function-name", name, "out.json", cwd=tmp_path)).stdout)
    assert invoked["FunctionError"] == "Unhandled"  # the call worked; the function did not
    assert json.loads((tmp_path / "out.json").read_text())["errorType"] == "KeyError"


def test_bad_input_is_refused(aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "hello.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))
    name = unique("aws-cobol")
    refused = aws("create-function", "--function-name", name, "--runtime", "cobol", "--handler", "app.handler",
                  "--role", ROLE, "--zip-file", "fileb://hello.zip", cwd=tmp_path)
    assert refused.returncode != 0 and "InvalidParameterValueException" in refused.stderr
    assert name not in ok(aws("list-functions")).stdout
