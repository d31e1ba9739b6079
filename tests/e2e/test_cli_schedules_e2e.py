"""`faas schedules` and `aws scheduler` as a user runs them, against a real `faas serve`: the commands README.md's
nightly job shows, on the same schedules as boto3's `scheduler` client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, unique
from tests.e2e.test_cli_e2e import cli_env, ok
from tests.e2e.test_schedules_e2e import ACCOUNT, REGION, ROLE_ARN, scheduler_client, with_runner_role
from tests.e2e.test_sqs_e2e import sqs_client

DEBIAN_CLI = "/usr/bin/aws"  # deploy/dev.sh installs Debian's awscli package (2.9, which has `aws scheduler`)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_runner_role(Server(tmp_path_factory.mktemp("faas") / "data").start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def queue_arn(server: Server) -> str:
    sqs = sqs_client(server)
    url = sqs.create_queue(QueueName=unique("cli-sched"))["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_faas_schedules_create_ls_disable_enable_rm(server: Server, home: Path, queue_arn: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", "schedules", *args], env=cli_env(server.data_dir, home),
                              cwd=home, capture_output=True, text=True, timeout=120)

    name = unique("nightly")
    arn = ok(run("create", name, "--expression", "cron(0 2 * * ? *)", "--timezone", "Europe/Berlin",
                 "--target", queue_arn, "--role", ROLE_ARN, "--input", '{"job": "report"}', "--retries", "3",
                 "--flexible-window", "10")).stdout.strip()
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    scheduler = scheduler_client(server)
    got = scheduler.get_schedule(Name=name)
    assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"], got["Target"]["Input"],
            got["Target"]["RetryPolicy"]["MaximumRetryAttempts"], got["FlexibleTimeWindow"]) == \
        ("cron(0 2 * * ? *)", "Europe/Berlin", '{"job": "report"}', 3, {"Mode": "FLEXIBLE",
                                                                      "MaximumWindowInMinutes": 10})
    listing = ok(run("ls", "--prefix", name)).stdout.splitlines()
    assert listing[0].split() == ["NAME", "GROUP", "STATE", "EXPRESSION", "TARGET"]
    assert listing[1].startswith(name) and "ENABLED" in listing[1] and "cron(0 2 * * ? *)" in listing[1]
    ok(run("disable", name))
    assert scheduler.get_schedule(Name=name)["State"] == "DISABLED"
    ok(run("enable", name))
    after = scheduler.get_schedule(Name=name)
    assert after["State"] == "ENABLED" and after["Target"] == got["Target"]  # the rest unchanged
    bad = run("create", unique("bad"), "--expression", "cron(0 2 * * * *)", "--target", queue_arn, "--role", ROLE_ARN)
    assert bad.returncode == 1 and "ValidationException" in bad.stderr
    ok(run("rm", name))
    assert run("rm", name).returncode == 1


def test_aws_scheduler_from_debians_cli(server: Server, home: Path, queue_arn: str) -> None:
    if not os.path.exists(DEBIAN_CLI):
        pytest.skip(f"{DEBIAN_CLI} is missing: apt-get install awscli (deploy/dev.sh does)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
                "AWS_DEFAULT_REGION": REGION, "HOME": str(home)})

    def aws(*args: str) -> dict:
        result = subprocess.run([DEBIAN_CLI, "scheduler", *args, "--endpoint-url", server.endpoint], env=env,
                                cwd=home, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    name = unique("nightly")
    created = aws("create-schedule", "--name", name, "--schedule-expression", "cron(0 2 * * ? *)",
                  "--schedule-expression-timezone", "Europe/Berlin", "--flexible-time-window", '{"Mode": "OFF"}',
                  "--target", json.dumps({"Arn": queue_arn, "RoleArn": ROLE_ARN, "Input": '{"job": "report"}'}))
    assert created["ScheduleArn"].endswith(f"/default/{name}")
    got = aws("get-schedule", "--name", name)
    assert (got["ScheduleExpressionTimezone"], got["Target"]["Input"]) == ("Europe/Berlin", '{"job": "report"}')
    assert name in [s["Name"] for s in aws("list-schedules", "--name-prefix", name)["Schedules"]]
    aws("delete-schedule", "--name", name)
    assert aws("list-schedules", "--name-prefix", name)["Schedules"] == []
