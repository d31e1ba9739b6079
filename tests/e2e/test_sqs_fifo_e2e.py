"""FIFO queues through boto3's `sqs` client against a real `faas serve`: order within a message group across
a receive that was not deleted, groups that do not wait for one another, explicit and content-based
deduplication within five minutes (across a SIGKILL and restart too), SequenceNumbers, and bad FIFO input
in SQS's error shapes with nothing already stored lost."""

from __future__ import annotations

import hashlib
import os
import signal

from tests.e2e.conftest import Server, unique, wait_for
from tests.e2e.test_postgres_e2e import postgres_url  # noqa: F401 (a fixture)
from tests.e2e.test_sqs_e2e import ACCOUNT, refused, sqs, sqs_client, store_url  # noqa: F401 (fixtures)

FIFO = {"FifoQueue": "true"}


def fifo_queue(sqs, **attributes) -> str:  # type: ignore[no-untyped-def]
    return sqs.create_queue(QueueName=unique("orders") + ".fifo", Attributes={**FIFO, **attributes})["QueueUrl"]


def receive(sqs, url: str, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                               **params).get("Messages", [])


def test_order_within_a_group_across_a_failed_receive_and_independent_groups(sqs):
    url = fifo_queue(sqs, VisibilityTimeout="2")
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": f"a{i}", "MessageBody": f"a{i}", "MessageGroupId": "a", "MessageDeduplicationId": f"a{i}"}
        for i in range(3)])["Successful"]
    b0 = sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b", MessageDeduplicationId="b0")
    numbers = [int(entry["SequenceNumber"]) for entry in sent] + [int(b0["SequenceNumber"])]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    first = receive(sqs, url)  # each group's first, then the rest of each group in order
    assert [m["Body"] for m in first] == ["a0", "a1", "a2", "b0"]
    a0 = first[0]
    assert a0["Attributes"]["MessageGroupId"] == "a" and a0["Attributes"]["MessageDeduplicationId"] == "a0"
    assert a0["Attributes"]["SequenceNumber"] == sent[0]["SequenceNumber"]
    # a1 and b0 are deleted; a0 and a2 are not (a failed receive). Group b goes on; group a waits.
    for message in (first[1], first[3]):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b", MessageDeduplicationId="b1")
    [b1] = receive(sqs, url)
    assert b1["Body"] == "b1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=b1["ReceiptHandle"])
    seen = []

    def group_a_again() -> bool:
        seen.extend(receive(sqs, url, WaitTimeSeconds=1))
        return bool(seen)

    wait_for(group_a_again, timeout=30)
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in seen] == [("a0", "2"), ("a2", "2")]
    for message in seen:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert receive(sqs, url) == []


def test_deduplication_explicit_and_by_content(sqs):
    url = fifo_queue(sqs, ContentBasedDeduplication="true")
    first = sqs.send_message(QueueUrl=url, MessageBody="pay 10", MessageGroupId="g", MessageDeduplicationId="tx-1")
    again = sqs.send_message(QueueUrl=url, MessageBody="pay 10 (retried)", MessageGroupId="g",
                             MessageDeduplicationId="tx-1")
    assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
    by_content = sqs.send_message(QueueUrl=url, MessageBody="ship", MessageGroupId="g")
    assert sqs.send_message(QueueUrl=url, MessageBody="ship", MessageGroupId="g")["MessageId"] == \
        by_content["MessageId"]
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "dup", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "tx-1"},
        {"Id": "new", "MessageBody": "y", "MessageGroupId": "g", "MessageDeduplicationId": "tx-2"}])
    assert batch["Successful"][0]["MessageId"] == first["MessageId"] and not batch.get("Failed")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "true")
    bodies = [(m["Body"], m["Attributes"]["MessageDeduplicationId"]) for m in receive(sqs, url)]
    assert bodies == [("pay 10", "tx-1"), ("ship", hashlib.sha256(b"ship").hexdigest()), ("y", "tx-2")]


def test_bad_fifo_input_is_refused_in_sqs_shape_and_nothing_stored_is_lost(sqs):
    url = fifo_queue(sqs)
    kept = sqs.send_message(QueueUrl=url, MessageBody="keep me", MessageGroupId="g", MessageDeduplicationId="k")
    refused(sqs.send_message, "MissingParameter", QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    error = refused(sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert "ContentBasedDeduplication" in error.response["Error"]["Message"]
    error = refused(sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x", MessageGroupId="g",
                    MessageDeduplicationId="d", DelaySeconds=5)
    assert "DelaySeconds" in error.response["Error"]["Message"]
    refused(sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x", MessageGroupId="g" * 129,
            MessageDeduplicationId="d")
    failed = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "nogroup", "MessageBody": "x",
                                                            "MessageDeduplicationId": "e"}])["Failed"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in failed] == [("nogroup", "MissingParameter", True)]
    refused(sqs.create_queue, "InvalidParameterValue", QueueName=unique("plain") + ".fifo")
    refused(sqs.create_queue, "InvalidParameterValue", QueueName=unique("plain"), Attributes=FIFO)
    refused(sqs.create_queue, "InvalidParameterValue", QueueName="q" * 76 + ".fifo", Attributes=FIFO)
    refused(sqs.create_queue, "InvalidAttributeName", QueueName=unique("plain"),
            Attributes={"ContentBasedDeduplication": "true"})
    refused(sqs.set_queue_attributes, "InvalidAttributeValue", QueueUrl=url,
            Attributes={"FifoThroughputLimit": "unlimited"})
    refused(sqs.set_queue_attributes, "InvalidAttributeName", QueueUrl=url, Attributes={"FifoQueue": "false"})
    standard = sqs.create_queue(QueueName=unique("plain"))["QueueUrl"]
    refused(sqs.send_message, "InvalidParameterValue", QueueUrl=standard, MessageBody="x",
            MessageDeduplicationId="d")
    standard_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{standard.rsplit('/', 1)[1]}"
    error = refused(sqs.set_queue_attributes, "InvalidAttributeValue", QueueUrl=url, Attributes={
        "RedrivePolicy": f'{{"deadLetterTargetArn": "{standard_arn}", "maxReceiveCount": 3}}'})
    assert "same type" in error.response["Error"]["Message"]
    [message] = receive(sqs, url)
    assert (message["MessageId"], message["Body"]) == (kept["MessageId"], "keep me")


def test_deduplication_survives_a_sigkill_and_restart(tmp_path, store_url):
    server = Server(tmp_path / "data", database_url=store_url).start()
    try:
        sqs = sqs_client(server)
        url = sqs.create_queue(QueueName="durable.fifo", Attributes=FIFO)["QueueUrl"]
        first = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d")
        server.stop(signal.SIGKILL)
        server.start()
        sqs = sqs_client(server)
        again = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d")
        assert again["MessageId"] == first["MessageId"]
        got = []
        wait_for(lambda: got.extend(receive(sqs, url, WaitTimeSeconds=1)) or bool(got), timeout=30)
        assert [m["MessageId"] for m in got] == [first["MessageId"]]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        assert receive(sqs, url) == []
    finally:
        server.stop()
        os.environ.pop("AWS_SHARED_CREDENTIALS_FILE", None)
