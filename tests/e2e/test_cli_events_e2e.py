"""`faas rules` and `faas events put` as a user runs them: the CLI as a subprocess against a real `faas serve`,
found through the data dir alone, on the same rules as boto3's `events` client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, unique
from tests.e2e.test_cli_e2e import cli_env, ok
from tests.e2e.test_event_rules_e2e import SENDER_ARN, with_sender_role
from tests.e2e.test_events_e2e import events_client
from tests.e2e.test_sqs_e2e import sqs_client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_sender_role(Server(tmp_path_factory.mktemp("faas") / "data").start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def faas(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("home")

    def faas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", *args], env=cli_env(server.data_dir, home), cwd=home,
                              capture_output=True, text=True, timeout=120)
    return faas


def failed(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The command failed with `status` (1: the platform refused; 2: refused before any request)."""
    assert result.returncode == status, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stdout == ""
    return result.stderr


def test_a_rule_and_its_targets_with_the_cli(server, faas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sqs, events = sqs_client(server), events_client(server)
    queue = unique("events-cli")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:000000000000:{queue}"
    rule = unique("big-orders")
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", 100]}]}}))
    arn = ok(faas("rules", "create", rule, "--pattern", f"@{pattern}", "--description", "big ones")).stdout.strip()
    assert arn == f"arn:aws:events:us-east-1:000000000000:rule/{rule}"
    assert events.describe_rule(Name=rule)["Description"] == "big ones"
    listed = ok(faas("rules", "targets", rule, "--add", queue_arn, "--id", "audit", "--role-arn", SENDER_ARN,
                     "--template", '{"big order": <total>}', "--path", "total=$.detail.total")).stdout
    assert "audit" in listed and queue_arn in listed
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == [{
        "Id": "audit", "Arn": queue_arn, "RoleArn": SENDER_ARN, "InputTransformer": {
            "InputPathsMap": {"total": "$.detail.total"}, "InputTemplate": '{"big order": <total>}'}}]
    lines = ok(faas("rules", "ls", "--prefix", rule)).stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "TARGETS", "PATTERN", "OR", "SCHEDULE"]
    assert lines[1].split()[:3] == [rule, "ENABLED", "1"]
    nightly = unique("nightly")
    ok(faas("rules", "create", nightly, "--schedule", "cron(0 2 * * ? *)", "--disabled"))
    assert events.describe_rule(Name=nightly)["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert ok(faas("rules", "ls", "--prefix", nightly)).stdout.splitlines()[1].split() == [
        nightly, "DISABLED", "0", "cron(0", "2", "*", "*", "?", "*)"]
    assert "ValidationException" in failed(faas("rules", "create", nightly, "--schedule", "at(2030-01-01T00:00:00)"))
    ok(faas("rules", "rm", nightly))

    event_id = ok(faas("events", "put", "--source", "shop.orders", "--detail-type", "Order Placed",
                       "--detail", '{"total": 250}')).stdout.strip()
    assert len(event_id) == 36
    deadline = time.monotonic() + 60
    messages: list = []
    while not messages:
        assert time.monotonic() < deadline, "the event never reached the queue"
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in messages] == ['{"big order": 250}']

    # Bad input: refused with the reason, nothing changed.
    assert "--pattern is not JSON" in failed(faas("rules", "create", rule, "--pattern", "{nope"), 2)
    assert "MalformedDetail" in failed(faas("events", "put", "--source", "s", "--detail-type", "t",
                                            "--detail", "[1]"))
    assert "ResourceNotFoundException" in failed(faas("events", "put", "--source", "s", "--detail-type", "t",
                                                      "--detail", "{}", "--bus", unique("nobus")))
    assert "ValidationException" in failed(faas("rules", "targets", rule, "--add", "arn:aws:s3:::bucket"))
    assert "InvalidEventPatternException" in failed(faas("rules", "create", rule, "--pattern", '{"source": "x"}'))
    assert events.describe_rule(Name=rule)["EventPattern"] == pattern.read_text()

    ok(faas("rules", "targets", rule, "--remove", "audit"))
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []
    assert ok(faas("rules", "rm", rule)).stdout.strip() == f"deleted rule {rule} and its targets"
    assert events.list_rules(NamePrefix=rule)["Rules"] == []
