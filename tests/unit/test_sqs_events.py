"""Lambda's SQS event built from received messages, and how a function's answer is read."""

from __future__ import annotations

import json

import pytest

from faas.event_patterns import compile_pattern
from faas.sources import sqs_events

ARN = "arn:aws:sqs:us-east-1:000000000000:orders"


def message(message_id: str, body: str = "hi", group: str | None = None, **extra) -> dict:  # type: ignore[no-untyped-def]
    attributes = {"SenderId": "AIDA", "SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1",
                  "ApproximateFirstReceiveTimestamp": "1700000000001"}
    if group is not None:
        attributes |= {"MessageGroupId": group, "MessageDeduplicationId": "d", "SequenceNumber": "0001"}
    return {"MessageId": message_id, "ReceiptHandle": f"handle-{message_id}", "MD5OfBody": "md5", "Body": body,
            "Attributes": attributes, **extra}


def test_a_record_has_exactly_lambdas_fields():
    shaped = sqs_events.record(message("m1"), queue_arn=ARN, region="us-east-1")
    assert shaped == {
        "messageId": "m1", "receiptHandle": "handle-m1", "body": "hi",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000", "SenderId": "AIDA",
                       "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {}, "md5OfBody": "md5", "eventSource": "aws:sqs", "eventSourceARN": ARN,
        "awsRegion": "us-east-1"}


def test_message_attributes_are_spelt_as_lambda_spells_them():
    received = message("m1", MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"},
                                                "blob": {"DataType": "Binary.gz", "BinaryValue": "AAE="}},
                       MD5OfMessageAttributes="abc")
    shaped = sqs_events.record(received, queue_arn=ARN, region="eu-west-1")
    assert shaped["messageAttributes"] == {
        "kind": {"stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary.gz"}}
    assert shaped["md5OfMessageAttributes"] == "abc" and shaped["awsRegion"] == "eu-west-1"


def test_a_fifo_record_carries_its_group_and_sequence_number():
    shaped = sqs_events.record(message("m1", group="g"), queue_arn=ARN + ".fifo", region="us-east-1")
    assert shaped["attributes"]["MessageGroupId"] == "g" and shaped["attributes"]["SequenceNumber"] == "0001"
    assert shaped["attributes"]["MessageDeduplicationId"] == "d"


def test_the_event_is_the_records():
    records = [sqs_events.record(message(f"m{i}"), queue_arn=ARN, region="us-east-1") for i in range(2)]
    assert json.loads(sqs_events.event(records)) == {"Records": records}


@pytest.mark.parametrize("answer, failed", [
    (b"", set()),
    (b"null", set()),
    (b"{}", set()),
    (b'{"batchItemFailures": null}', set()),
    (b'{"batchItemFailures": []}', set()),
    (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}', {"a", "b"}),
    (b"not json", None),
    (b'"a string"', None),
    (b'{"batchItemFailures": "b"}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
    (b'{"batchItemFailures": [{"itemId": "b"}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', None),
])
def test_batch_item_failures_are_read_as_lambda_reads_them(answer, failed):
    assert sqs_events.failed_items(answer, ["a", "b", "c"]) == failed


def test_a_fifo_group_is_held_back_from_its_first_failure_other_groups_go_on():
    batch = [message("a1", group="a"), message("b1", group="b"), message("a2", group="a"),
             message("b2", group="b"), message("a3", group="a")]
    assert sqs_events.held_back(batch, {"a2"}) == {"a2", "a3"}
    assert sqs_events.held_back(batch, {"a1", "b2"}) == {"a1", "a2", "a3", "b2"}
    assert sqs_events.held_back(batch, set()) == set()


def test_filters_see_a_json_body_as_an_object_and_any_other_as_text():
    on_body = compile_pattern({"body": {"kind": ["order"]}}, dialect="lambda")
    on_text = compile_pattern({"body": [{"prefix": "urgent"}]}, dialect="lambda")
    on_attributes = compile_pattern({"attributes": {"ApproximateReceiveCount": ["1"]}}, dialect="lambda")

    def shaped(body: str) -> dict:
        return sqs_events.record(message("m", body), queue_arn=ARN, region="us-east-1")

    assert sqs_events.matches_any([on_body], shaped('{"kind": "order"}'))
    assert not sqs_events.matches_any([on_body], shaped('{"kind": "refund"}'))
    assert sqs_events.matches_any([on_body, on_text], shaped("urgent: now"))
    assert not sqs_events.matches_any([on_body, on_text], shaped("later"))
    assert sqs_events.matches_any([on_attributes], shaped("anything"))
    assert sqs_events.matches_any([], shaped("no filters: everything passes"))
