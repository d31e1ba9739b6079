"""Lambda's SQS event, built from received messages, and what a function's answer to it means: pure
functions, used by the queue pollers (faas/sources/queue_pollers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

EVENT_SOURCE = "aws:sqs"
# The system attributes Lambda's records carry, in its order; FIFO queues' messages add the last three.
RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                     "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "DeadLetterQueueSourceArn")


class Pattern(Protocol):
    def matches(self, event: Any) -> bool: ...


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's records spell it (camelCase, with the list fields SQS never fills)."""
    shaped: dict[str, Any] = {}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = value["BinaryValue"]  # base64, as the JSON protocol carries it
    shaped.update(stringListValues=[], binaryListValues=[], dataType=value["DataType"])
    return shaped


def record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One of the event's Records, from a message as ReceiveMessage answers it (every attribute asked for)."""
    system = message.get("Attributes") or {}
    attributes = message.get("MessageAttributes") or {}
    shaped: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {key: system[key] for key in RECORD_ATTRIBUTES if key in system},
        "messageAttributes": {name: _attribute(value) for name, value in attributes.items()},
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        shaped["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    shaped.update(eventSource=EVENT_SOURCE, eventSourceARN=queue_arn, awsRegion=region)
    return shaped


def event(records: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": list(records)}, ensure_ascii=False).encode()


def filtered_view(shaped: dict[str, Any]) -> dict[str, Any]:
    """What a filter pattern sees of a record: the record, with a body that is a JSON object parsed (Lambda
    matches `body` patterns against the JSON a message holds; any other body only as its plain string)."""
    body = shaped["body"]
    try:
        parsed = json.loads(body)
    except ValueError:
        return shaped
    return {**shaped, "body": parsed} if isinstance(parsed, dict) else shaped


def matches_any(patterns: Sequence[Pattern], shaped: dict[str, Any]) -> bool:
    """Whether a record passes a mapping's filters: any of them (none means every record passes)."""
    if not patterns:
        return True
    view = filtered_view(shaped)
    return any(pattern.matches(view) for pattern in patterns)


def failed_items(body: bytes, message_ids: Sequence[str]) -> set[str] | None:
    """The messages a ReportBatchItemFailures answer names as failed; None when the whole batch failed.

    As Lambda reads it: an empty or null answer, or an empty or null `batchItemFailures`, is a complete
    success; an answer that is not JSON, or an item whose `itemIdentifier` is missing, empty, not a string,
    or not a message of the batch, fails the whole batch."""
    if not body.strip():
        return set()
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if answer is None:
        return set()
    if not isinstance(answer, dict):
        return None
    failures = answer.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known, failed = set(message_ids), set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        failed.add(identifier)
    return failed


def held_back(messages: Iterable[dict[str, Any]], failed: set[str]) -> set[str]:
    """For a FIFO queue: the failed messages and every later message of their groups, which must not be
    deleted ahead of them (they come back after them, in order). `messages` in the order received."""
    stopped: set[str] = set()
    kept = set()
    for message in messages:
        group = (message.get("Attributes") or {}).get("MessageGroupId")
        if message["MessageId"] in failed or group in stopped:
            kept.add(message["MessageId"])
            stopped.add(group)
    return kept
