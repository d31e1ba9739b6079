"""SQS on the faas endpoint as methods of `QueueClient`: its JSON protocol (one POST to `/` per operation,
named by `X-Amz-Target: AmazonSQS.<Operation>`, signed for the credential scope's service `sqs`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faas.client.transport import JsonProtocolClient, pages

LONG_POLL_MARGIN_S = 30.0  # a receive waits up to 20 s on the server before it answers


class QueueClient(JsonProtocolClient):
    """SQS's operations the `faas queues` verbs use; build one with QueueClient.from_settings."""

    SERVICE = "sqs"
    TARGET_PREFIX = "AmazonSQS"
    CONTENT_TYPE = "application/x-amz-json-1.0"

    def create_queue(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str] | None = None) -> str:
        """CreateQueue; returns the queue's URL."""
        return str(self.call("CreateQueue", {"QueueName": name, "Attributes": dict(attributes) or None,
                                             "tags": dict(tags or {}) or None})["QueueUrl"])

    def tags(self, url: str) -> dict[str, str]:
        return dict(self.call("ListQueueTags", {"QueueUrl": url}).get("Tags") or {})

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
