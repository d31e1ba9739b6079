"""`faas queues`: parsing, the attributes the options make, and the SQS JSON requests the verbs send (to a fake
that records them; tests/e2e/test_cli_queues_e2e.py drives a real server)."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import threading

import pytest

from faas import cli
from faas.cli import queues
from faas.client.queues import QueueClient
from faas.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("FAAS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAAS_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("argv", [["queues"], ["queues", "create"], ["queues", "ls"], ["queues", "send"],
                                  ["queues", "receive"], ["queues", "rm"]])
def test_help_of_every_queue_verb_exits_0(argv, capsys):
    assert cli.main([*argv, "--help"]) == 0
    assert "usage: faas queues" in capsys.readouterr().out


def test_queues_without_a_verb_prints_usage(capsys):
    assert cli.main(["queues"]) == 2
    assert "create" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["queues", "send", "q"], ["queues", "send", "q", "--body", "x", "--file", "f"],
                                  ["queues", "create", "q", "--delay", "-1"],
                                  ["queues", "receive", "q", "--wait", "soon"]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage: faas queues" in capsys.readouterr().err


def create_args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["queues", "create", "q", *argv])


def test_create_attributes_from_the_options():
    args = create_args("--attribute", "VisibilityTimeout=5", "--attribute", "Policy=a=b", "--visibility-timeout",
                       "60", "--delay", "3", "--retention", "600")
    assert queues.create_attributes(args) == {"VisibilityTimeout": "60", "DelaySeconds": "3",
                                              "MessageRetentionPeriod": "600", "Policy": "a=b"}
    assert queues.create_attributes(create_args()) == {}
    assert json.loads(queues.redrive_policy("arn:aws:sqs:us-east-1:000000000000:dlq", 4)) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 4}


@pytest.mark.parametrize("argv,message", [
    (["--attribute", "VisibilityTimeout"], "is not KEY=VALUE"),
    (["--attribute", "=1"], "is not KEY=VALUE"),
    (["--dead-letter", "dlq"], "go together"),
    (["--max-receives", "3"], "go together"),
])
def test_bad_create_options(argv, message):
    with pytest.raises(ConfigError, match=message):
        queues.create_attributes(create_args(*argv))


def test_message_attributes():
    assert queues.parse_message_attributes(["kind=String:a:b", "n=Number.int:3", "blob=Binary:AAEC", "e=String:"]) == {
        "kind": {"DataType": "String", "StringValue": "a:b"},
        "n": {"DataType": "Number.int", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": "AAEC"},
        "e": {"DataType": "String", "StringValue": ""}}


@pytest.mark.parametrize("pair", ["kind", "kind=order", "=String:x", "kind=Text:x", "kind=string:x"])
def test_bad_message_attributes(pair):
    with pytest.raises(ConfigError, match="is not Name=Type:value"):
        queues.parse_message_attributes([pair])


def test_sqs_request_shape():
    headers, body = QueueClient.encode("SendMessage", {"QueueUrl": "u", "MessageBody": "é", "DelaySeconds": None})
    assert headers == {"X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": "application/x-amz-json-1.0"}
    assert json.loads(body) == {"QueueUrl": "u", "MessageBody": "é"}  # unset options are left out


class FakeSqs(http.server.BaseHTTPRequestHandler):
    """Answers SQS JSON requests from `answers` (operation -> (status, body)) and records each request."""

    answers: dict[str, tuple[int, dict]] = {}
    seen: list[tuple[dict[str, str], dict]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(({k.lower(): v for k, v in self.headers.items()}, payload))
        status, answer = self.answers[self.headers["X-Amz-Target"].removeprefix("AmazonSQS.")]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def fake_sqs(monkeypatch):
    FakeSqs.answers, FakeSqs.seen = {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeSqs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("FAAS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    yield FakeSqs
    server.shutdown()
    server.server_close()


QUEUE_URL = "http://127.0.0.1:1/000000000000/q"


def test_send_signs_for_sqs_and_prints_the_message_id(fake_sqs, capsys):
    fake_sqs.answers = {"GetQueueUrl": (200, {"QueueUrl": QUEUE_URL}),
                        "SendMessage": (200, {"MessageId": "m-1", "MD5OfMessageBody": "x"})}
    assert cli.main(["queues", "send", "q", "--body", "hi", "--delay", "2", "--attribute", "k=String:v"]) == 0
    assert capsys.readouterr().out == "m-1\n"
    (get_headers, get), (send_headers, send) = fake_sqs.seen
    assert get == {"QueueName": "q"}
    assert send == {"QueueUrl": QUEUE_URL, "MessageBody": "hi", "DelaySeconds": 2,
                    "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}
    assert "/us-east-1/sqs/aws4_request" in send_headers["authorization"]
    assert send_headers["content-type"] == "application/x-amz-json-1.0"


def test_create_with_a_dead_letter_queue_by_name(fake_sqs, capsys):
    fake_sqs.answers = {"GetQueueUrl": (200, {"QueueUrl": "http://h/000000000000/dlq"}),
                        "GetQueueAttributes": (200, {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:0:dlq"}}),
                        "CreateQueue": (200, {"QueueUrl": QUEUE_URL})}
    assert cli.main(["queues", "create", "q", "--dead-letter", "dlq", "--max-receives", "5"]) == 0
    assert capsys.readouterr().out == QUEUE_URL + "\n"
    create = fake_sqs.seen[-1][1]
    assert create["QueueName"] == "q"
    assert json.loads(create["Attributes"]["RedrivePolicy"]) == {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:0:dlq",
                                                                 "maxReceiveCount": 5}


def test_ls_follows_next_token_and_skips_a_queue_deleted_meanwhile(fake_sqs, capsys):
    pages = iter([{"QueueUrls": ["http://h/0/a"], "NextToken": "t"}, {"QueueUrls": ["http://h/0/gone"]}])

    class Answers(dict):
        def __getitem__(self, operation):
            if operation == "ListQueues":
                return 200, next(pages)
            if fake_sqs.seen[-1][1]["QueueUrl"].endswith("/gone"):
                return 400, {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no"}
            return 200, {"Attributes": {"ApproximateNumberOfMessages": "4",
                                        "ApproximateNumberOfMessagesNotVisible": "1"}}

    fake_sqs.answers = Answers()
    assert cli.main(["queues", "ls", "--prefix", "a"]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        ["NAME", "URL", "VISIBLE", "IN", "FLIGHT"], ["a", "http://h/0/a", "4", "1"]]
    assert [payload.get("NextToken") for _, payload in fake_sqs.seen if "QueueNamePrefix" in payload] == [None, "t"]


def test_receive_with_delete_prints_then_deletes(fake_sqs, capsys):
    message = {"MessageId": "m", "ReceiptHandle": "r", "Body": "b", "Attributes": {"SenderId": "dev"}}
    fake_sqs.answers = {"ReceiveMessage": (200, {"Messages": [message]}), "DeleteMessage": (200, {})}
    assert cli.main(["queues", "receive", QUEUE_URL, "--max", "3", "--wait", "4", "--delete"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {**message, "MessageAttributes": {}}
    assert err == "deleted 1 message\n"
    (_, receive), (_, delete) = fake_sqs.seen  # a URL is used as it is: no GetQueueUrl
    assert (receive["MaxNumberOfMessages"], receive["WaitTimeSeconds"]) == (3, 4)
    assert delete == {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r"}


def test_sqs_errors_are_printed_with_their_code(fake_sqs, capsys):
    fake_sqs.answers = {"GetQueueUrl": (400, {"__type": "com.amazonaws.sqs#QueueDoesNotExist",
                                              "message": "The specified queue does not exist."})}
    assert cli.main(["queues", "rm", "nope"]) == 1
    assert capsys.readouterr().err == "error: QueueDoesNotExist: The specified queue does not exist. (nope)\n"


def test_fifo_options():
    assert queues.create_attributes(create_args("--fifo", "--content-based-dedup")) == {
        "FifoQueue": "true", "ContentBasedDeduplication": "true"}


def test_send_to_a_fifo_queue_names_group_and_deduplication_id(fake_sqs, capsys):
    fake_sqs.answers = {"SendMessage": (200, {"MessageId": "m-2", "MD5OfMessageBody": "x", "SequenceNumber": "1"})}
    assert cli.main(["queues", "send", QUEUE_URL, "--body", "hi", "--group", "g", "--dedup-id", "d"]) == 0
    assert capsys.readouterr().out == "m-2\n"
    [(_, send)] = fake_sqs.seen
    assert send == {"QueueUrl": QUEUE_URL, "MessageBody": "hi", "MessageGroupId": "g", "MessageDeduplicationId": "d"}
