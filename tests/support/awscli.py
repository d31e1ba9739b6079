"""The AWS CLI as a user runs it against a test server: v1 (PyPI's, installed beside the tests, with a current
botocore) or Debian's v2 (`deploy/dev.sh` installs the awscli package), with only the server's credentials
file and a region, and a HOME of its own (no ~/.aws of the person running the tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DEBIAN_CLI = "/usr/bin/aws"

AwsCli = Callable[..., subprocess.CompletedProcess[str]]


def cli_command(version: str) -> list[str]:
    """["python", "-m", "awscli"] for "v1"; Debian's v2 otherwise, or a skip naming the package to install."""
    if version == "v1":
        return [sys.executable, "-m", "awscli"]
    if not os.path.exists(DEBIAN_CLI):
        pytest.skip(f"{DEBIAN_CLI} is missing: apt-get install awscli (deploy/dev.sh does)")
    return [DEBIAN_CLI]


def aws_cli(version: str, endpoint: str, credentials: Path, home: Path, *service: str) -> AwsCli:
    """`aws <service> ARGS --endpoint-url <endpoint>` as a function of ARGS (leave `service` out to give it
    in ARGS)."""
    command = [*cli_command(version), *service]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_DEFAULT_REGION": "us-east-1",
                "HOME": str(home)})

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args, "--endpoint-url", endpoint], env=env, cwd=home,
                              capture_output=True, text=True, timeout=120)
    return aws


def ok(result: subprocess.CompletedProcess[str]) -> dict:
    """The command's JSON output ({} when it printed nothing), once it is known to have succeeded."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else {}
