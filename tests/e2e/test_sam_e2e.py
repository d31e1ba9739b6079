"""`faas deploy -f template.yaml` as a user runs it: the `faas` CLI as a subprocess against a real `faas serve`,
with templates shaped like `sam init`'s and AWS's samples (tests/e2e/sam/), unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, unique

pytestmark = pytest.mark.docker

SAMPLES = Path(__file__).resolve().parent / "sam"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        # the shell of a user who only knows where the data dir is
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
        env.update({"FAAS_DATA_DIR": str(server.data_dir), "HOME": str(home)})
        return subprocess.run([sys.executable, "-m", "faas", *args], env=env, cwd=cwd or home,
                              capture_output=True, text=True, timeout=300)
    return run


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def sample(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(SAMPLES / name, folder)
    return folder


def function_names(lam) -> set[str]:  # type: ignore[no-untyped-def]
    return {f["FunctionName"] for f in lam.list_functions()["Functions"]}


def test_hello_world_python_is_refused_then_deployed_without_its_api_event(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-python")
    stack = unique("hello-py")
    refused = run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack)
    assert refused.returncode == 2, refused
    assert refused.stderr.splitlines() == [
        f"error: {folder / 'template.yaml'} asks for what faas does not deploy:",
        "  - Globals.Function.LoggingConfig: the property is not supported",
        "  - Resources.HelloWorldFunction.Properties.Events.HelloWorld: events of type Api are not supported",
    ]
    assert f"{stack}-HelloWorldFunction" not in function_names(lam)  # nothing was touched

    deployed = ok(run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack, "--skip-unsupported"))
    name = f"{stack}-HelloWorldFunction"
    assert deployed.stdout.splitlines() == [f"stack {stack} ({folder / 'template.yaml'})",
                                            f"  created {name} (HelloWorldFunction)"]
    assert deployed.stderr.splitlines() == [
        "warning: not deployed: Globals.Function.LoggingConfig: the property is not supported",
        "warning: not deployed: Resources.HelloWorldFunction.Properties.Events.HelloWorld: "
        "events of type Api are not supported",
    ]
    configuration = lam.get_function(FunctionName=name)["Configuration"]
    assert (configuration["Runtime"], configuration["Handler"]) == ("python3.13", "app.lambda_handler")
    assert (configuration["MemorySize"], configuration["Timeout"]) == (128, 3)
    result = json.loads(ok(run("invoke", name)).stdout)
    assert result == {"statusCode": 200, "body": json.dumps({"message": "hello world"})}


def test_hello_world_nodejs_deploys_from_the_template_in_the_current_folder(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-node")
    stack = unique("hello-node")
    deployed = ok(run("deploy", "--stack-name", stack, "--skip-unsupported", cwd=folder))
    name = f"{stack}-HelloWorldFunction"
    assert f"  created {name} (HelloWorldFunction)" in deployed.stdout.splitlines()
    assert lam.get_function(FunctionName=name)["Configuration"]["Runtime"] == "nodejs20.x"
    result = json.loads(ok(run("invoke", name, "--payload", '{"httpMethod": "GET", "path": "/hello"}')).stdout)
    assert result == {"statusCode": 200, "body": json.dumps({"message": "hello world"}, separators=(",", ":"))}


def test_a_url_function_with_parameters_globals_concurrency_and_a_public_url(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "url-function")
    stack = unique("web")
    deployed = ok(run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack,
                      "--parameter-overrides", "Stage=prod", "ParameterKey=Greeting,ParameterValue=Howdy"))
    name = f"{stack}-greeter-prod"  # its FunctionName: !Sub "${AWS::StackName}-greeter-${Stage}"
    lines = deployed.stdout.splitlines()
    assert lines[1] == f"  created {name} (GreeterFunction)"
    url = lines[2].removeprefix("    FunctionUrl: ")
    assert url.startswith("http://") and ".lambda-url." in url

    function = lam.get_function(FunctionName=name)
    configuration = function["Configuration"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 10)  # from Globals
    assert configuration["Description"] == "Greets the caller (prod)"
    assert configuration["Environment"]["Variables"] == {"STAGE": "prod", "GREETING": "Howdy", "REGION": "us-east-1"}
    assert function["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    url_config = lam.get_function_url_config(FunctionName=name)
    assert url_config["AuthType"] == "NONE"
    assert url_config["Cors"]["AllowOrigins"] == ["*"]

    url_id = url.split("//", 1)[1].split(".", 1)[0]
    status, _, body = server.request("GET", f"/lambda-url/{url_id}/?name=web", sign=False)  # anyone may call it
    assert status == 200, body
    assert json.loads(body) == {"message": "Howdy, web!", "stage": "prod", "region": "us-east-1", "memory": "256"}


def test_bad_parameter_overrides_are_refused_before_anything_is_deployed(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "url-function")
    stack = unique("web")
    refused = run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack,
                  "--parameter-overrides", "Stage=test")
    assert refused.returncode == 2
    assert "  - Parameters.Stage: 'test' is not one of its AllowedValues ['dev', 'prod']" in refused.stderr.splitlines()
    missing = run("deploy", "-f", str(folder / "nothing.yaml"))
    assert missing.returncode == 2 and "error: cannot read" in missing.stderr
    assert not any(name.startswith(stack) for name in function_names(lam))
