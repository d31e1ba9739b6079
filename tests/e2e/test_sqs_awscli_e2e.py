"""The AWS CLI's `aws sqs` against a real `faas serve`: the commands README.md shows, run as a user types
them, with the CLI installed beside the tests (v1 with a current botocore: SQS's JSON protocol) and with
Debian's AWS CLI v2 (2.9, which still speaks SQS's query protocol)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Server, unique
from tests.support.awscli import aws_cli, ok


@pytest.fixture(scope="module", params=["json", "query"])
def aws(request, server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`aws sqs ... --endpoint-url <endpoint>` with only the data dir's credentials file and a region."""
    return aws_cli("v1" if request.param == "json" else "v2", server.endpoint, server.data_dir / "credentials",
                   tmp_path_factory.mktemp("home"), "sqs")


def test_a_queue_with_the_aws_cli(aws, server) -> None:  # type: ignore[no-untyped-def]
    name = unique("cli-jobs")
    url = ok(aws("create-queue", "--queue-name", name, "--attributes", "VisibilityTimeout=60"))["QueueUrl"]
    assert url == f"{server.endpoint}/000000000000/{name}"
    assert url in ok(aws("list-queues", "--queue-name-prefix", "cli-jobs"))["QueueUrls"]
    assert ok(aws("get-queue-url", "--queue-name", name))["QueueUrl"] == url
    attributes = ok(aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All"))["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"

    sent = ok(aws("send-message", "--queue-url", url, "--message-body", '{"order": 1}',
                  "--message-attributes", "kind={DataType=String,StringValue=order}"))
    received = ok(aws("receive-message", "--queue-url", url, "--message-attribute-names", "All",
                      "--wait-time-seconds", "5"))["Messages"]
    assert [(m["MessageId"], m["Body"], m["MD5OfMessageAttributes"]) for m in received] == [
        (sent["MessageId"], '{"order": 1}', sent["MD5OfMessageAttributes"])]
    assert received[0]["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "order"}}
    ok(aws("delete-message", "--queue-url", url, "--receipt-handle", received[0]["ReceiptHandle"]))
    assert "Messages" not in ok(aws("receive-message", "--queue-url", url))

    batch = ok(aws("send-message-batch", "--queue-url", url, "--entries", json.dumps([
        {"Id": "good", "MessageBody": "one", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}}},
        {"Id": "bad", "MessageBody": "two", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}}])))
    assert [e["Id"] for e in batch["Successful"]] == ["good"] and batch["Successful"][0]["MD5OfMessageAttributes"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in batch["Failed"]] == [("bad", "InvalidParameterValue", True)]
    [one] = ok(aws("receive-message", "--queue-url", url, "--attribute-names", "All",
                   "--message-attribute-names", "All"))["Messages"]
    assert one["Attributes"]["ApproximateReceiveCount"] == "1"
    assert one["MessageAttributes"] == {"n": {"DataType": "Number", "StringValue": "7"}}
    deleted = ok(aws("delete-message-batch", "--queue-url", url, "--entries", json.dumps([
        {"Id": "a", "ReceiptHandle": one["ReceiptHandle"]}, {"Id": "b", "ReceiptHandle": "bogus"}])))
    assert [e["Id"] for e in deleted["Successful"]] == ["a"]
    assert [(e["Id"], e["Code"]) for e in deleted["Failed"]] == [("b", "ReceiptHandleIsInvalid")]
    ok(aws("tag-queue", "--queue-url", url, "--tags", "team=a"))
    assert ok(aws("list-queue-tags", "--queue-url", url))["Tags"] == {"team": "a"}
    ok(aws("purge-queue", "--queue-url", url))
    ok(aws("delete-queue", "--queue-url", url))

    missing = aws("get-queue-url", "--queue-name", name)
    assert missing.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in missing.stderr
    assert "The specified queue does not exist" in missing.stderr
    too_long = aws("create-queue", "--queue-name", "q" * 81)
    assert too_long.returncode != 0 and "InvalidParameterValue" in too_long.stderr and "80" in too_long.stderr
    unknown_attribute = aws("create-queue", "--queue-name", unique("cli"), "--attributes", "Colour=blue")
    assert unknown_attribute.returncode != 0 and "InvalidAttributeName" in unknown_attribute.stderr


def test_a_fifo_queue_with_the_aws_cli(aws) -> None:  # type: ignore[no-untyped-def]
    name = unique("cli-orders") + ".fifo"
    url = ok(aws("create-queue", "--queue-name", name, "--attributes",
                 "FifoQueue=true,ContentBasedDeduplication=true"))["QueueUrl"]
    first = ok(aws("send-message", "--queue-url", url, "--message-body", "one", "--message-group-id", "g"))
    assert len(first["SequenceNumber"]) == 20
    again = ok(aws("send-message", "--queue-url", url, "--message-body", "one", "--message-group-id", "g"))
    assert again["MessageId"] == first["MessageId"]  # deduplicated by content
    ok(aws("send-message", "--queue-url", url, "--message-body", "two", "--message-group-id", "g",
           "--message-deduplication-id", "second"))
    received, second = ok(aws("receive-message", "--queue-url", url, "--attribute-names", "All",
                              "--max-number-of-messages", "10", "--receive-request-attempt-id", "attempt-1"))["Messages"]
    assert (received["Body"], received["Attributes"]["MessageGroupId"]) == ("one", "g")
    assert received["Attributes"]["SequenceNumber"] == first["SequenceNumber"]
    assert (second["Body"], second["Attributes"]["MessageDeduplicationId"]) == ("two", "second")
    for message in (received, second):
        ok(aws("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"]))
    assert "Messages" not in ok(aws("receive-message", "--queue-url", url))
    missing = aws("send-message", "--queue-url", url, "--message-body", "x")
    assert missing.returncode != 0 and "MessageGroupId" in missing.stderr
    ok(aws("delete-queue", "--queue-url", url))
