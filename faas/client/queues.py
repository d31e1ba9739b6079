"""SQS on the faas endpoint as methods of `QueueClient`: its JSON protocol (one POST to `/` per operation,
named by `X-Amz-Target: AmazonSQS.<Operation>`, signed for the credential scope's service `sqs`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faas.client.transport import ClientError, Transport, pages

SERVICE = "sqs"
TARGET_PREFIX = "AmazonSQS"
CONTENT_TYPE = "application/x-amz-json-1.0"
LONG_POLL_MARGIN_S = 30.0  # a receive waits up to 20 s on the server before it answers


def sqs_request(operation: str, payload: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """The headers and body of one SQS JSON-protocol request."""
    headers = {"X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": CONTENT_TYPE}
    return headers, json.dumps({k: v for k, v in payload.items() if v is not None}).encode("utf-8")


class QueueClient(Transport):
    """SQS's operations the `faas queues` verbs use; build one with QueueClient.from_settings."""

    def call(self, operation: str, payload: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        headers, body = sqs_request(operation, payload)
        extra = {} if timeout is None else {"timeout": timeout}
        answer = self.request("POST", "/", body=body, headers=headers, service=SERVICE, **extra).json()
        if not isinstance(answer, dict):
            raise ClientError("InvalidResponse", f"the platform answered {operation} with {answer!r}", 200)
        return answer

    def create_queue(self, name: str, attributes: Mapping[str, str]) -> str:
        """CreateQueue; returns the queue's URL."""
        return str(self.call("CreateQueue", {"QueueName": name, "Attributes": dict(attributes) or None})["QueueUrl"])

    def queue_url(self, name: str) -> str:
        return str(self.call("GetQueueUrl", {"QueueName": name})["QueueUrl"])

    def list_queues(self, prefix: str | None = None) -> list[str]:
        """Every queue URL (with the name prefix), following NextToken."""
        return pages(lambda token: self.call("ListQueues", {"QueueNamePrefix": prefix, "MaxResults": 1000,
                                                            "NextToken": token}), "QueueUrls", "NextToken")

    def attributes(self, url: str, names: list[str]) -> dict[str, str]:
        return dict(self.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": names}).get("Attributes") or {})

    def delete_queue(self, url: str) -> None:
        self.call("DeleteQueue", {"QueueUrl": url})

    def send_message(self, url: str, body: str, *, delay_s: int | None = None,
                     attributes: Mapping[str, Mapping[str, str]] | None = None, group_id: str | None = None,
                     deduplication_id: str | None = None) -> dict[str, Any]:
        """SendMessage: {"MessageId", "MD5OfMessageBody", "MD5OfMessageAttributes"?, "SequenceNumber"?}."""
        return self.call("SendMessage", {"QueueUrl": url, "MessageBody": body, "DelaySeconds": delay_s,
                                         "MessageAttributes": dict(attributes) if attributes else None,
                                         "MessageGroupId": group_id, "MessageDeduplicationId": deduplication_id})

    def receive_messages(self, url: str, *, max_messages: int = 1, wait_s: int | None = None) -> list[dict[str, Any]]:
        """ReceiveMessage with every system and message attribute."""
        answer = self.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": max_messages,
                                              "WaitTimeSeconds": wait_s, "MessageSystemAttributeNames": ["All"],
                                              "MessageAttributeNames": ["All"]},
                           timeout=(wait_s or 0) + LONG_POLL_MARGIN_S)
        return list(answer.get("Messages") or [])

    def delete_message(self, url: str, receipt_handle: str) -> None:
        self.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": receipt_handle})
