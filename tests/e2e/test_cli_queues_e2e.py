"""`faas queues` as a user runs it: the CLI as a subprocess against a real `faas serve`, found through the data
dir alone, on the same queues as boto3's `sqs` client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, unique
from tests.e2e.test_cli_e2e import cli_env, ok
from tests.e2e.test_sqs_e2e import sqs_client

REDRIVE_WAIT_S = 30.0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", "queues", *args], env=cli_env(server.data_dir, home),
                              cwd=home, input=stdin, capture_output=True, text=True, timeout=120)
    return run


@pytest.fixture(scope="module")
def sqs(server: Server):  # type: ignore[no-untyped-def]
    return sqs_client(server)


def failed(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert result.returncode == status, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stdout == ""
    return result.stderr


def received(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in ok(result).stdout.splitlines()]


def test_create_with_dead_letter_send_receive_ls_rm(run, sqs, server: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dlq, name = unique("cli-dlq"), unique("cli-orders")
    dlq_url = ok(run("create", dlq)).stdout.strip()
    assert dlq_url == f"{server.endpoint}/000000000000/{dlq}"
    url = ok(run("create", name, "--visibility-timeout", "0", "--retention", "3600", "--dead-letter", dlq,
                 "--max-receives", "2", "--attribute", "ReceiveMessageWaitTimeSeconds=1")).stdout.strip()
    assert url == f"{server.endpoint}/000000000000/{name}"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["VisibilityTimeout"], attributes["MessageRetentionPeriod"],
            attributes["ReceiveMessageWaitTimeSeconds"]) == ("0", "3600", "1")
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:000000000000:{dlq}", "maxReceiveCount": 2}

    body_file = tmp_path / "body.json"
    body_file.write_text('{"order": "ü"}', encoding="utf-8")
    ids = [ok(run("send", name, "--body", "from --body", "--attribute", "kind=String:order",
                  "--attribute", "count=Number:3")).stdout.strip(),
           ok(run("send", name, "--file", str(body_file))).stdout.strip(),
           ok(run("send", name, "--file", "-", stdin="from stdin\n")).stdout.strip()]
    assert len(set(ids)) == 3 and all(ids)

    listed = ok(run("ls", "--prefix", "cli-orders")).stdout.splitlines()
    assert listed[0].split() == ["NAME", "URL", "VISIBLE", "IN", "FLIGHT"]
    assert [line.split() for line in listed[1:] if line.split()[0] == name] == [[name, url, "3", "0"]]
    assert not any(line.split()[0] == dlq for line in listed[1:])  # the prefix filters

    messages = received(run("receive", name, "--max", "10", "--wait", "5"))
    assert sorted(m["MessageId"] for m in messages) == sorted(ids)
    by_id = {m["MessageId"]: m for m in messages}
    assert by_id[ids[0]]["Body"] == "from --body"
    assert by_id[ids[0]]["MessageAttributes"]["kind"] == {"DataType": "String", "StringValue": "order"}
    assert by_id[ids[0]]["MessageAttributes"]["count"] == {"DataType": "Number", "StringValue": "3"}
    assert by_id[ids[1]]["Body"] == '{"order": "ü"}'
    assert by_id[ids[2]]["Body"] == "from stdin\n"
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" and m["ReceiptHandle"] for m in messages)

    # Visibility timeout 0: received again (count 2), this time deleted once printed.
    deleted = run("receive", name, "--max", "10", "--wait", "5", "--delete")
    again = received(deleted)
    assert {m["MessageId"] for m in again} <= set(ids) and again
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "2" for m in again)
    assert f"deleted {len(again)} message" in deleted.stderr
    # Whatever that receive did not return goes to the dead-letter queue on its third receive.
    rest = set(ids) - {m["MessageId"] for m in again}
    deadline = time.monotonic() + REDRIVE_WAIT_S
    while rest:
        assert time.monotonic() < deadline, f"{rest} never reached the dead-letter queue"
        for message in received(run("receive", name, "--max", "10", "--wait", "2")):
            assert message["MessageId"] in rest
        rest -= {m["MessageId"] for m in received(run("receive", dlq, "--max", "10", "--delete"))}
    empty = run("receive", name, "--wait", "1")
    assert ok(empty).stdout == "" and "no message" in empty.stderr
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}

    assert ok(run("rm", name)).stdout.strip() == f"deleted queue {name}"
    assert ok(run("rm", dlq_url)).stdout.strip() == f"deleted queue {dlq_url}"  # a URL names a queue too
    remaining = [line.split()[0] for line in ok(run("ls")).stdout.splitlines()[1:]]
    assert name not in remaining and dlq not in remaining


def test_sent_with_the_cli_received_with_boto3(run, sqs) -> None:  # type: ignore[no-untyped-def]
    url = sqs.create_queue(QueueName=unique("cli-interop"))["QueueUrl"]
    name = url.rsplit("/", 1)[-1]
    message_id = ok(run("send", name, "--body", "héllo", "--attribute", "kind=String:greeting",
                        "--attribute", "blob=Binary:AAEC")).stdout.strip()
    # boto3 checks MD5OfMessageBody and MD5OfMessageAttributes as it parses the answer.
    messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=5)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in messages] == [(message_id, "héllo")]
    assert messages[0]["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "greeting"},
                                                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
    # And the other way: boto3 sends, the CLI receives.
    sent = sqs.send_message(QueueUrl=url, MessageBody="from boto3", DelaySeconds=0)["MessageId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    assert [(m["MessageId"], m["Body"]) for m in received(run("receive", name, "--wait", "5", "--delete"))] \
        == [(sent, "from boto3")]
    ok(run("rm", name))


def test_errors(run, sqs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = unique("cli-missing")
    for verb in (("send", missing, "--body", "x"), ("receive", missing), ("rm", missing)):
        stderr = failed(run(*verb))
        assert stderr.strip() == f"error: QueueDoesNotExist: The specified queue does not exist. ({missing})", verb
    assert "QueueDoesNotExist" in failed(run("create", unique("cli-q"), "--dead-letter", missing,
                                             "--max-receives", "3"))

    # Refused by the CLI before any request: usage-like mistakes exit 2.
    assert "is not KEY=VALUE" in failed(run("create", unique("cli-q"), "--attribute", "VisibilityTimeout"), 2)
    assert "--dead-letter and --max-receives go together" in failed(run("create", unique("cli-q"),
                                                                        "--max-receives", "3"), 2)
    assert "is not Name=Type:value" in failed(run("send", missing, "--body", "x", "--attribute", "kind=order"), 2)
    assert "cannot read" in failed(run("send", missing, "--file", str(tmp_path / "absent")), 2)
    assert "one of the arguments --body --file is required" in failed(run("send", missing), 2)

    # Refused by the server, in SQS's words.
    bad_name = unique("cli-q")
    stderr = failed(run("create", bad_name, "--attribute", "NoSuchAttribute=1"))
    assert stderr.startswith("error: InvalidAttributeName: "), stderr
    stderr = failed(run("create", bad_name, "--visibility-timeout", "50000"))
    assert stderr.startswith("error: InvalidAttributeValue: "), stderr
    assert not sqs.list_queues(QueueNamePrefix=bad_name).get("QueueUrls")  # nothing half-made
    url = sqs.create_queue(QueueName=unique("cli-q"))["QueueUrl"]
    stderr = failed(run("send", url, "--body", "x", "--delay", "901"))
    assert stderr.startswith("error: InvalidParameterValue: "), stderr
    stderr = failed(run("receive", url, "--max", "11"))
    assert stderr.startswith("error: InvalidParameterValue: "), stderr
    sqs.delete_queue(QueueUrl=url)


def test_a_fifo_queue_from_the_cli(run, sqs) -> None:  # type: ignore[no-untyped-def]
    name = unique("cli-fifo") + ".fifo"
    url = ok(run("create", name, "--fifo", "--content-based-dedup")).stdout.strip()
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue", "ContentBasedDeduplication"])[
        "Attributes"] == {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    first = ok(run("send", name, "--body", "one", "--group", "g")).stdout.strip()
    assert ok(run("send", name, "--body", "one", "--group", "g")).stdout.strip() == first  # same body: a duplicate
    second = ok(run("send", name, "--body", "other", "--group", "g", "--dedup-id", "d-2")).stdout.strip()
    messages = received(run("receive", name, "--max", "10", "--wait", "5", "--delete"))
    assert [(m["MessageId"], m["Body"], m["Attributes"]["MessageGroupId"]) for m in messages] == [
        (first, "one", "g"), (second, "other", "g")]  # in order, the duplicate dropped
    assert "MessageGroupId" in failed(run("send", name, "--body", "no group"))  # SQS's MissingParameter
    ok(run("rm", name))
