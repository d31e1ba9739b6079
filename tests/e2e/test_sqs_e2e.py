"""SQS on the platform's one endpoint, through boto3's `sqs` client (its JSON protocol) against a real
`faas serve`: queues, messages, visibility, delays, long polling, attributes and their MD5s, batches,
purge, tags, policies, bad input in SQS's error shapes, and messages that survive restarts and SIGKILL."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import struct
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from faas.security import sigv4
from tests.e2e.conftest import Server, unique, wait_for
from tests.e2e.test_postgres_e2e import postgres_url  # noqa: F401 (a fixture)
from tests.e2e.test_security_e2e import audit, make_principal

ACCOUNT = "000000000000"


def sqs_client(server: Server, credentials=None, read_timeout: int = 60):  # type: ignore[no-untyped-def]
    credentials = credentials or server.credentials()
    return boto3.client(
        "sqs", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5,
                      parameter_validation=False),  # the server must catch bad input itself
    )


@pytest.fixture(scope="module")
def sqs(server: Server):  # type: ignore[no-untyped-def]
    return sqs_client(server)


def refused(call, code: str, status: int = 400, **params):  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (status, code), error
    assert error["Message"]
    return caught.value


def md5_of_attributes(attributes: dict) -> str:
    """SQS's digest of message attributes, written from AWS's description, independently of the server."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        digest.update(struct.pack(">I", len(name.encode())) + name.encode())
        digest.update(struct.pack(">I", len(value["DataType"])) + value["DataType"].encode())
        if "BinaryValue" in value:
            data = value["BinaryValue"]
            digest.update(b"\x02" + struct.pack(">I", len(data)) + data)
        else:
            data = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(data)) + data)
    return digest.hexdigest()


def test_create_list_get_url_attributes_and_delete(server, sqs):
    name = unique("orders")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"}, tags={"team": "a"})["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/{name}"
    # The same attributes again: the same queue; different ones: refused, the queue unchanged.
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    error = refused(sqs.create_queue, "QueueAlreadyExists", QueueName=name, Attributes={"VisibilityTimeout": "5"})
    assert isinstance(error, sqs.exceptions.QueueNameExists)
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
    assert (attributes["VisibilityTimeout"], attributes["DelaySeconds"], attributes["MaximumMessageSize"],
            attributes["MessageRetentionPeriod"], attributes["ReceiveMessageWaitTimeSeconds"]) == \
        ("45", "0", "1048576", "345600", "0")
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert abs(int(attributes["CreatedTimestamp"]) - time.time()) < 600
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"] == {
        "DelaySeconds": "0"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "3", "MaximumMessageSize": "2048"})
    changed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (changed["DelaySeconds"], changed["MaximumMessageSize"], changed["VisibilityTimeout"]) == ("3", "2048", "45")

    prefix = unique("page")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    second = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    third = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=second["NextToken"])
    assert first["QueueUrls"] + second["QueueUrls"] + third["QueueUrls"] == urls and "NextToken" not in third
    paged = [u for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix, MaxResults=2)
             for u in page.get("QueueUrls", [])]
    assert paged == urls

    sqs.delete_queue(QueueUrl=url)
    error = refused(sqs.get_queue_url, "AWS.SimpleQueueService.NonExistentQueue", QueueName=name)
    assert isinstance(error, sqs.exceptions.QueueDoesNotExist)
    assert url not in sqs.list_queues().get("QueueUrls", [])


def test_send_receive_delete_with_attributes_and_their_md5s(sqs):
    url = sqs.create_queue(QueueName=unique("attrs"))["QueueUrl"]
    attributes = {"kind": {"DataType": "String", "StringValue": "order"},
                  "count": {"DataType": "Number", "StringValue": "42"},
                  "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
                  "note.text": {"DataType": "String.custom", "StringValue": "naïve ☃"}}
    body = "héllo wörld ☃ " * 3
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    assert (message["MessageId"], message["Body"], message["MD5OfBody"]) == (sent["MessageId"], body,
                                                                            sent["MD5OfMessageBody"])
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["Attributes"]["SenderId"] and int(message["Attributes"]["SentTimestamp"]) > 0
    assert int(message["Attributes"]["ApproximateFirstReceiveTimestamp"]) >= int(message["Attributes"]["SentTimestamp"])
    # Asking for some attributes by name and prefix.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    [again] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["note.*", "kind"])["Messages"]
    assert set(again["MessageAttributes"]) == {"kind", "note.text"} and "Attributes" not in again
    assert again["MD5OfMessageAttributes"] == md5_of_attributes({k: attributes[k] for k in ("kind", "note.text")})
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                     "ApproximateNumberOfMessagesNotVisible"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_visibility_timeout_expiry_and_change_message_visibility(sqs):
    url = sqs.create_queue(QueueName=unique("vis"), Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    [first] = sqs.receive_message(QueueUrl=url)["Messages"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    # Invisible until the timeout runs out, then received again, counted, under a new handle.
    second = wait_for(lambda: sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])
                      .get("Messages"), timeout=30)[0]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    # The stale handle changes nothing: visibility refused, delete answered but the message stays.
    refused(sqs.change_message_visibility, "AWS.SimpleQueueService.MessageNotInflight", QueueUrl=url,
            ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=60)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    # Longer visibility: nobody else receives it until it is made visible again.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=600)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages") is None
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    [third] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert third["MessageId"] == first["MessageId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])


def test_delay_per_queue_and_per_message(sqs):
    url = sqs.create_queue(QueueName=unique("delay"), Attributes={"DelaySeconds": "2"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="queue-delayed")
    sqs.send_message(QueueUrl=url, MessageBody="at-once", DelaySeconds=0)
    sent_at = time.monotonic()
    [now] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert now["Body"] == "at-once"
    delayed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    [later] = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"), timeout=30)
    assert later["Body"] == "queue-delayed" and time.monotonic() - sent_at >= 1.5


def test_long_polling_returns_as_soon_as_a_message_is_sent(server, sqs):
    url = sqs.create_queue(QueueName=unique("poll"))["QueueUrl"]
    answers: list = []
    receiver = sqs_client(server)
    sending = threading.Event()
    receiver.meta.events.register("before-send.sqs.ReceiveMessage", lambda **_: sending.set())
    waiter = threading.Thread(target=lambda: answers.append(receiver.receive_message(QueueUrl=url,
                                                                                      WaitTimeSeconds=20)))
    started = time.monotonic()
    waiter.start()
    assert sending.wait(10)  # the receive is on its way (faas/services/queues.py wakes it once it waits)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    waiter.join(30)
    elapsed = time.monotonic() - started
    assert answers and answers[0]["Messages"][0]["Body"] == "wake up"
    assert elapsed < 10, f"the long poll took {elapsed:.1f} s of its 20"
    # An empty queue's long poll waits out its WaitTimeSeconds, then answers with no messages.
    started = time.monotonic()
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None
    assert time.monotonic() - started >= 0.9


def test_batches_with_partial_failures(sqs):
    url = sqs.create_queue(QueueName=unique("batch"), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    answer = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "first"},
        {"Id": "b", "MessageBody": "x" * 2000},  # over this queue's 1 KiB
        {"Id": "c", "MessageBody": "third", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}},
        {"Id": "d", "MessageBody": "bad", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}},
    ])
    assert sorted(e["Id"] for e in answer["Successful"]) == ["a", "c"]
    assert sorted((e["Id"], e["Code"], e["SenderFault"]) for e in answer["Failed"]) == [
        ("b", "InvalidParameterValue", True), ("d", "InvalidParameterValue", True)]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["first", "third"]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": received[0]["ReceiptHandle"]}, {"Id": "y", "ReceiptHandle": "nonsense"}])
    assert [e["Id"] for e in deleted["Successful"]] == ["x"]
    assert [(e["Id"], e["Code"]) for e in deleted["Failed"]] == [("y", "ReceiptHandleIsInvalid")]
    changed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "p", "ReceiptHandle": received[1]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "q", "ReceiptHandle": "nonsense", "VisibilityTimeout": 0}])
    assert [e["Id"] for e in changed["Successful"]] == ["p"] and [e["Id"] for e in changed["Failed"]] == ["q"]
    [back] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert back["Body"] == received[1]["Body"]
    # Whole-batch refusals: nothing of the batch is stored.
    refused(sqs.send_message_batch, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", QueueUrl=url,
            Entries=[{"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}])
    refused(sqs.send_message_batch, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", QueueUrl=url,
            Entries=[{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)])
    refused(sqs.send_message_batch, "AWS.SimpleQueueService.EmptyBatchRequest", QueueUrl=url, Entries=[])
    refused(sqs.send_message_batch, "AWS.SimpleQueueService.BatchRequestTooLong", QueueUrl=url,
            Entries=[{"Id": f"m{i}", "MessageBody": "y" * 600_000} for i in range(2)])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                     "ApproximateNumberOfMessagesNotVisible"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(sqs):
    dead = sqs.create_queue(QueueName=unique("dead"))["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName=unique("source"), Attributes={"RedrivePolicy": policy})["QueueUrl"]
    source_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stored = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"])
    assert stored == {"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison",
                            MessageAttributes={"a": {"DataType": "String", "StringValue": "b"}})["MessageId"]
    for count in (1, 2):  # received and handed back at once, as a failing consumer would
        [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert message["Attributes"]["ApproximateReceiveCount"] == str(count)
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # the third receive moves it
    [moved] = sqs.receive_message(QueueUrl=dead, AttributeNames=["All"], MessageAttributeNames=["All"],
                                  WaitTimeSeconds=5)["Messages"]
    assert (moved["MessageId"], moved["Body"], moved["MessageAttributes"]) == (
        sent, "poison", {"a": {"DataType": "String", "StringValue": "b"}})
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    # Removing the policy: messages stay however often they are received.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
    assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_purge_and_tags(sqs):
    url = sqs.create_queue(QueueName=unique("purge"), tags={"env": "test"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    sqs.purge_queue(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    sqs.tag_queue(QueueUrl=url, Tags={"team": "x", "env": "prod"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "team": "x"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "x"}


def test_a_principal_without_send_message_is_denied_in_sqs_shape(server, sqs):
    name = unique("guarded")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    reader = make_principal(server, unique("reader"), [
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:GetQueueUrl"],
         "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"}])
    as_reader = sqs_client(server, reader)
    assert as_reader.get_queue_url(QueueName=name)["QueueUrl"] == url
    error = refused(as_reader.send_message, "AccessDenied", status=403, QueueUrl=url, MessageBody="no")
    assert "sqs:SendMessage" in error.response["Error"]["Message"]
    assert f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}" in error.response["Error"]["Message"]
    refused(as_reader.send_message_batch, "AccessDenied", status=403, QueueUrl=url,
            Entries=[{"Id": "a", "MessageBody": "no"}])
    assert as_reader.receive_message(QueueUrl=url).get("Messages") is None
    # Another queue is not covered by the policy at all.
    other = sqs.create_queue(QueueName=unique("other"))["QueueUrl"]
    refused(as_reader.receive_message, "AccessDenied", status=403, QueueUrl=other)
    # Queue changes and refusals are in the audit log, on the queue's ARN.
    entries = [(e["Principal"], e["Action"], e["Status"], e["Outcome"]) for e in audit(server)
               if e["Resource"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"]
    assert (f"arn:aws:iam::{ACCOUNT}:user/admin", "sqs:CreateQueue", 200, "allowed") in entries
    assert any(action == "sqs:SendMessage" and (status, outcome) == (403, "denied")
               for _, action, status, outcome in entries)
    # A signature scoped to another service (Server.request signs for "lambda") is refused in SQS's shape.
    status, headers, body = server.request(
        "POST", "/", json.dumps({"QueueName": name}).encode(),
        {"X-Amz-Target": "AmazonSQS.GetQueueUrl", "Content-Type": "application/x-amz-json-1.0"}, credentials=reader)
    assert status == 403 and headers["x-amzn-query-error"] == "SignatureDoesNotMatch;Sender"
    assert "'sqs'" in json.loads(body)["message"]


def test_bad_input_is_refused_in_sqs_shape_and_nothing_stored_is_lost(server, sqs):
    url = sqs.create_queue(QueueName=unique("bad"), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    kept = sqs.send_message(QueueUrl=url, MessageBody="keep me")["MessageId"]
    missing = f"{server.endpoint}/{ACCOUNT}/{unique('nope')}"
    for call, params in ((sqs.send_message, {"MessageBody": "x"}), (sqs.receive_message, {}),
                         (sqs.get_queue_attributes, {"AttributeNames": ["All"]}), (sqs.purge_queue, {}),
                         (sqs.delete_queue, {})):
        error = refused(call, "AWS.SimpleQueueService.NonExistentQueue", QueueUrl=missing, **params)
        assert isinstance(error, sqs.exceptions.QueueDoesNotExist)
    error = refused(sqs.delete_message, "ReceiptHandleIsInvalid", QueueUrl=url, ReceiptHandle="not-a-handle")
    assert isinstance(error, sqs.exceptions.ReceiptHandleIsInvalid)
    refused(sqs.change_message_visibility, "ReceiptHandleIsInvalid", QueueUrl=url,
            ReceiptHandle=base64.b64encode(b"forged").decode(), VisibilityTimeout=5)
    error = refused(sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x" * 1025)
    assert "1024" in error.response["Error"]["Message"]
    refused(sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x" * 1000,
            MessageAttributes={"big": {"DataType": "String", "StringValue": "y" * 100}})
    refused(sqs.send_message, "InvalidMessageContents", QueueUrl=url, MessageBody="bell \x07")
    refused(sqs.get_queue_attributes, "InvalidAttributeName", QueueUrl=url, AttributeNames=["Colour"])
    refused(sqs.set_queue_attributes, "InvalidAttributeName", QueueUrl=url, Attributes={"Colour": "1"})
    refused(sqs.set_queue_attributes, "InvalidAttributeValue", QueueUrl=url, Attributes={"VisibilityTimeout": "-1"})
    refused(sqs.set_queue_attributes, "InvalidAttributeValue", QueueUrl=url,
            Attributes={"MaximumMessageSize": "1048577"})
    refused(sqs.receive_message, "InvalidAttributeName", QueueUrl=url, AttributeNames=["Colour"])
    refused(sqs.receive_message, "InvalidParameterValue", QueueUrl=url, MaxNumberOfMessages=11)
    refused(sqs.receive_message, "InvalidParameterValue", QueueUrl=url, WaitTimeSeconds=21)
    refused(sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x",
            MessageAttributes={"AWS.reserved": {"DataType": "String", "StringValue": "v"}})
    refused(sqs.create_queue, "InvalidParameterValue", QueueName="q" * 81)
    refused(sqs.create_queue, "InvalidParameterValue", QueueName="has space")
    error = refused(sqs.set_queue_attributes, "InvalidAttributeName", QueueUrl=url,
                    Attributes={"ContentBasedDeduplication": "true"})  # a FIFO queue's (tests/e2e/test_sqs_fifo_e2e.py)
    assert "FIFO" in error.response["Error"]["Message"]
    error = refused(sqs.create_queue, "InvalidAttributeValue", QueueName=unique("dlq"), Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{unique('none')}",
                                     "maxReceiveCount": 3})})
    assert "Dead letter target does not exist" in error.response["Error"]["Message"]
    refused(sqs.set_queue_attributes, "InvalidAttributeValue", QueueUrl=url, Attributes={"RedrivePolicy": "{"})
    refused(sqs.send_message, "InvalidAddress", QueueUrl="no-path-here", MessageBody="x")
    refused(sqs.send_message, "MissingParameter", QueueUrl=url)
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert (message["MessageId"], message["Body"]) == (kept, "keep me")
    assert f"{ACCOUNT}/{'q' * 81}" not in str(sqs.list_queues())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield None  # the server's own SQLite file
    else:
        yield request.getfixturevalue("postgres_url")


def test_messages_survive_a_restart_and_sigkill(tmp_path, store_url):
    server = Server(tmp_path / "data", database_url=store_url).start()
    try:
        sqs = sqs_client(server)
        url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
        sent = {sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(20)}
        [held] = sqs.receive_message(QueueUrl=url)["Messages"]  # in flight when the server goes
        server.stop()
        server.start()
        sqs = sqs_client(server)
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        sent |= {sqs.send_message(QueueUrl=url, MessageBody=f"n{i}")["MessageId"] for i in range(20)}
        server.stop(signal.SIGKILL)
        server.start()
        sqs = sqs_client(server)
        received = set()

        def drain() -> bool:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)\
                    .get("Messages", []):
                received.add(message["MessageId"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return received == sent

        wait_for(drain, timeout=60)
        assert held["MessageId"] in received
    finally:
        server.stop()
        os.environ.pop("AWS_SHARED_CREDENTIALS_FILE", None)


def test_unknown_operations_and_unscoped_query_requests_are_refused_clearly(server):
    # A form signed for another service names no service that speaks the query protocol.
    status, _, body = server.request("POST", "/", b"Action=ListQueues&Version=2012-11-05",
                                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and "query-protocol" in json.loads(body)["message"]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers.update(sigv4.sign(server.credentials(), "us-east-1", "sqs", "POST", server.endpoint + "/", headers,
                              sigv4.payload_hash(b"Action=Teleport")))
    status, _, body = server.request("POST", "/", b"Action=Teleport", headers, sign=False)
    assert status == 404 and b"<Code>InvalidAction</Code>" in body and b"Teleport" in body
    headers = {"X-Amz-Target": "AmazonSQS.Teleport", "Content-Type": "application/x-amz-json-1.0"}
    headers.update(sigv4.sign(server.credentials(), "us-east-1", "sqs", "POST", server.endpoint + "/", headers,
                              sigv4.payload_hash(b"{}")))
    status, headers, body = server.request("POST", "/", b"{}", headers, sign=False)
    assert status == 404 and headers["x-amzn-query-error"] == "InvalidAction;Sender"
    assert "Teleport" in json.loads(body)["message"]
