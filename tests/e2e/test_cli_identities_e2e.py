"""The `faas` identity verbs as a user runs them: principals, keys written into an AWS credentials file,
policies, refusals, bearer tokens, the audit log, roles, function permissions and master key rotation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.e2e.conftest import REPO, Server, unique

pytestmark = pytest.mark.docker

HELLO = REPO / "examples" / "hello"
ACCOUNT = "000000000000"
LIST_ONLY = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}]}
LIST_ONLY_STORED = {"Version": "2012-10-17",  # as the platform normalises it: lists, never single strings
                    "Statement": [{"Effect": "Allow", "Action": ["lambda:ListFunctions"], "Resource": ["*"]}]}


def cli_env(data_dir: Path, home: Path, **extra: str) -> dict[str, str]:
    """A user's shell that knows only the data dir (and what `extra` adds): no other AWS_* or FAAS_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"FAAS_DATA_DIR": str(data_dir), "HOME": str(home), **extra})
    return env


def faas(data_dir: Path, home: Path, *args: str, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faas", *args], env=cli_env(data_dir, home, **(env or {})),
                          cwd=home, capture_output=True, text=True, timeout=timeout)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def refused(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stderr.startswith(f"error: {code}: "), result.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    """`faas ...` as the admin, whose credentials `faas serve` wrote into the data dir."""
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return faas(server.data_dir, home, *args, timeout=timeout)
    return run


def new_principal(run, credentials: Path, profile: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A fresh principal with a key written as `profile` into `credentials`: (name, access key id)."""
    name = unique("dev")
    created = ok(run("principals", "create", name))
    assert created.stdout == f"created principal {name} (arn:aws:iam::{ACCOUNT}:user/{name})\n"
    written = ok(run("keys", "create", name, "--credentials-file", str(credentials), "--profile", profile))
    first, second = written.stdout.splitlines()
    key_id = first.removeprefix("created access key ").removesuffix(f" for {name}")
    assert key_id.startswith("AKIA") and second == f"wrote profile [{profile}] to {credentials}"
    return name, key_id


def audited_creates(run) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """`faas audit --action faas:CreatePrincipal`, oldest first, without the time column."""
    audit = ok(run("audit", "--action", "faas:CreatePrincipal", "--limit", "1000")).stdout.splitlines()
    assert audit[0].split() == ["TIME", "PRINCIPAL", "ACTION", "RESOURCE", "STATUS", "OUTCOME"]
    return [line.split()[1:] for line in audit[1:]]


def copy_hello(tmp_path: Path) -> Path:
    code = tmp_path / "hello"
    shutil.copytree(HELLO, code, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def test_a_key_in_a_credentials_file_is_allowed_what_its_policy_allows(  # type: ignore[no-untyped-def]
        run, server: Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "aws" / "credentials"
    credentials.parent.mkdir()
    credentials.write_text("# mine\n[default]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other\n")
    creates_before = audited_creates(run)
    name, key_id = new_principal(run, credentials, "dev")
    assert credentials.stat().st_mode & 0o777 == 0o600
    text = credentials.read_text()
    assert text.startswith("# mine\n[default]\naws_access_key_id = AKIAOTHER\n")  # the other profile is kept
    assert f"[dev]\naws_access_key_id = {key_id}\naws_secret_access_key = " in text
    assert name in ok(run("principals", "ls")).stdout

    ok(run("policies", "put", "--principal", name, "ListOnly", "--document", json.dumps(LIST_ONLY)))
    assert json.loads(ok(run("policies", "ls", "--principal", name)).stdout) == {"ListOnly": LIST_ONLY_STORED}

    def as_dev(*args: str) -> subprocess.CompletedProcess[str]:
        return faas(server.data_dir, home, *args, "--profile", "dev",
                    env={"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})

    assert ok(as_dev("ls")).stdout.startswith("NAME ")
    denied = as_dev("deploy", str(copy_hello(tmp_path)), "--name", unique("dev-fn"), "--runtime", "python3.13",
                    "--handler", "app.handler")
    refused(denied, "AccessDeniedException")
    assert f"arn:aws:iam::{ACCOUNT}:user/{name} is not authorized" in denied.stderr

    # The profile works for boto3 as written: the same file, the same refusals.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    lam = boto3.Session(profile_name="dev", region_name="us-east-1").client(
        "lambda", endpoint_url=server.endpoint, config=Config(retries={"max_attempts": 1}))
    assert isinstance(lam.list_functions()["Functions"], list)
    with pytest.raises(lam.exceptions.ClientError) as exc_info:
        lam.get_function(FunctionName="anything")
    assert exc_info.value.response["Error"]["Code"] == "AccessDeniedException"

    row = next(line for line in ok(run("keys", "ls", "--principal", name)).stdout.splitlines()[1:])
    assert row.split()[:3] == [key_id, name, "Active"]
    assert ok(run("keys", "disable", key_id)).stdout == f"disabled access key {key_id}\n"
    refused(as_dev("ls"), "UnrecognizedClientException")
    assert ok(run("keys", "ls", "--principal", name)).stdout.splitlines()[1].split()[2] == "Inactive"
    ok(run("keys", "enable", key_id))
    ok(as_dev("ls"))

    # What the admin did, and what the principal was refused, are in the audit log.
    creates = audited_creates(run)
    assert len(creates) == len(creates_before) + 1
    assert creates[-1] == [f"arn:aws:iam::{ACCOUNT}:user/admin", "faas:CreatePrincipal", "*", "201", "allowed"]
    mine = [line.split()[1:] for line in ok(run("audit", "--principal", name)).stdout.splitlines()[1:]]
    assert mine and all(entry[0] == f"arn:aws:iam::{ACCOUNT}:user/{name}" for entry in mine)
    assert any(entry[-2:] == ["403", "denied"] for entry in mine), mine

    ok(run("keys", "rm", key_id))
    refused(as_dev("ls"), "UnrecognizedClientException")
    assert ok(run("principals", "rm", name)).stdout == f"deleted principal {name}\n"
    assert name not in ok(run("principals", "ls")).stdout
    refused(run("principals", "rm", name), "ResourceNotFoundException")


def bearer_get(server: Server, path: str, token: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(server.endpoint + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_token_is_a_bearer_token_for_curl(run, server: Server) -> None:  # type: ignore[no-untyped-def]
    created = ok(run("token", "--ttl", "600"))
    token = created.stdout.strip()
    assert created.stdout == token + "\n" and token.startswith("faas_")  # alone on stdout
    assert created.stderr.startswith("token tok-") and " expires " in created.stderr
    status, _, body = bearer_get(server, "/2015-03-31/functions/", token)
    assert status == 200 and isinstance(json.loads(body)["Functions"], list)
    for bad in ("garbage", token + "x"):
        status, headers, _ = bearer_get(server, "/2015-03-31/functions/", bad)
        assert status == 403 and headers["x-amzn-ErrorType"].startswith("UnrecognizedClientException")
    refused(run("token", "--ttl", "30"), "InvalidParameterValueException")


def test_roles_policies_and_function_permissions(  # type: ignore[no-untyped-def]
        run, server: Server, home: Path, tmp_path: Path) -> None:
    role = unique("worker")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    assert ok(run("roles", "create", role, "--description", "runs the hello function")).stdout == \
        f"created role {role} ({role_arn})\n"
    row = next(line for line in ok(run("roles", "ls")).stdout.splitlines() if line.startswith(role + " "))
    assert row.split() == [role, role_arn, row.split()[2], "runs", "the", "hello", "function"]
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(LIST_ONLY))
    assert ok(run("policies", "put", "--role", role, "Lister", "--file", str(policy_file))).stdout == \
        f"put policy Lister on role {role}\n"
    assert json.loads(ok(run("policies", "ls", "--role", role)).stdout) == {"Lister": LIST_ONLY_STORED}

    function = unique("perm-hello")
    ok(run("deploy", str(copy_hello(tmp_path)), "--name", function, "--runtime", "python3.13",
           "--handler", "app.handler", "--role", role_arn))

    credentials = tmp_path / "credentials"
    caller, _ = new_principal(run, credentials, "caller")  # no policy at all
    caller_arn = f"arn:aws:iam::{ACCOUNT}:user/{caller}"

    def as_caller(*args: str) -> subprocess.CompletedProcess[str]:
        return faas(server.data_dir, home, *args, "--profile", "caller",
                    env={"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})

    refused(as_caller("invoke", function), "AccessDeniedException")
    added = ok(run("permissions", "add", function, "--statement-id", "let-caller", "--action",
                   "lambda:InvokeFunction", "--principal", caller_arn))
    statement = json.loads(added.stdout)
    assert (statement["Sid"], statement["Action"], statement["Effect"]) == ("let-caller", "lambda:InvokeFunction",
                                                                            "Allow")
    assert statement["Resource"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}"
    shown = json.loads(ok(run("permissions", "show", function)).stdout)
    assert [s["Sid"] for s in shown["Statement"]] == ["let-caller"]
    assert json.loads(ok(as_caller("invoke", function, "--payload", '{"name": "caller"}')).stdout)["message"] == \
        "Hello, caller!"

    assert ok(run("permissions", "rm", function, "let-caller")).stdout == \
        f"removed statement let-caller from {function}\n"
    refused(run("permissions", "show", function), "ResourceNotFoundException")
    refused(as_caller("invoke", function), "AccessDeniedException")

    ok(run("policies", "rm", "--role", role, "Lister"))
    assert json.loads(ok(run("policies", "ls", "--role", role)).stdout) == {}
    ok(run("rm", function))
    assert ok(run("roles", "rm", role)).stdout == f"deleted role {role}\n"
    assert role not in ok(run("roles", "ls")).stdout
    ok(run("principals", "rm", caller))


def test_keys_rotate_rewraps_a_stopped_servers_secrets(  # type: ignore[no-untyped-def]
        tmp_path_factory: pytest.TempPathFactory, home: Path, tmp_path: Path) -> None:
    other = Server(tmp_path_factory.mktemp("faas-rotate") / "data").start()
    credentials = tmp_path / "credentials"
    try:
        def on_other(*args: str) -> subprocess.CompletedProcess[str]:
            return faas(other.data_dir, home, *args)

        name, _ = new_principal(on_other, credentials, "dev")
        ok(on_other("policies", "put", "--principal", name, "ListOnly", "--document", json.dumps(LIST_ONLY)))
    finally:
        assert other.stop() == 0
    key_file = other.data_dir / "master.key"
    old_ids = [k["id"] for k in json.loads(key_file.read_text())["keys"]]

    rotated = faas(tmp_path, home, "keys", "rotate", "--data-dir", str(other.data_dir), timeout=120)
    ok(rotated)
    new_id = rotated.stdout.removeprefix("new master key: ").strip()
    assert rotated.stdout == f"new master key: {new_id}\n" and new_id not in old_ids
    assert "re-wrapped" in rotated.stderr and "retired master keys" in rotated.stderr
    assert [k["id"] for k in json.loads(key_file.read_text())["keys"]] == [new_id]  # the old key is gone

    other.start()  # everything sealed before still opens, under the new key alone
    try:
        ok(faas(other.data_dir, home, "ls"))
        ok(faas(other.data_dir, home, "ls", "--profile", "dev", env={"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}))
    finally:
        assert other.stop() == 0
