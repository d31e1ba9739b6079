"""What SNS calls may ask for, checked as SNS checks it: topic attributes, tags, pages and publishes (pure
functions; faas.services.topics acts on what they let through)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from faas.errors import (
    InvalidParameter,
    SnsBatchEntryIdsNotDistinct,
    SnsBatchRequestTooLong,
    SnsEmptyBatchRequest,
    SnsInvalidBatchEntryId,
    SnsTooManyEntriesInBatchRequest,
)
from faas.services import topic_messages as messages
from faas.store.topics import Topic

MAX_TAGS = 50
MAX_BATCH = 10
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
# Topic attributes: the ones a topic may set, with their defaults (FIFO topics add theirs).
TOPIC_SETTABLE = {"DisplayName": "", "SignatureVersion": "2", "TracingConfig": "PassThrough"}
FIFO_SETTABLE = {"ContentBasedDeduplication": "false"}
TOPIC_NOT_SUPPORTED = {
    "Policy": "topic policies are not supported; grant sns:* actions in the caller's identity policy",
    "DeliveryPolicy": "deliveries follow SNS's default delivery policy (3 retries for HTTP endpoints)",
    "KmsMasterKeyId": "server-side encryption with KMS keys is not supported",
    "ArchivePolicy": "message archiving is not supported",
    "DataProtectionPolicy": "data protection policies are not supported",
}
# SNS's default HTTP delivery policy, which deliveries here follow (3 retries, 20 s apart by default).
EFFECTIVE_DELIVERY_POLICY = json.dumps({"http": {"defaultHealthyRetryPolicy": {
    "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0, "numNoDelayRetries": 0,
    "numMinDelayRetries": 0, "backoffFunction": "linear"}, "disableSubscriptionOverrides": False,
    "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}, separators=(",", ":"))
SUBSCRIPTION_SETTABLE = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
SCOPES = ("MessageAttributes", "MessageBody")


def no_filter(policy: object) -> bool:
    """An empty FilterPolicy ("{}", as SNS's consoles write it to remove one) filters nothing: it is none."""
    if not isinstance(policy, str):
        return False
    try:
        return json.loads(policy) == {}
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class Message:
    """A publish, checked."""

    message: str
    subject: str | None
    by_protocol: dict[str, str] | None
    attributes: dict[str, messages.Attribute]
    group: str | None
    deduplication_id: str | None

    def text_for(self, protocol: str) -> str:
        if self.by_protocol is None:
            return self.message
        return self.by_protocol.get(protocol, self.by_protocol["default"])


def publish_message(topic: Topic, params: dict[str, Any]) -> Message:
    """A Publish's (or a PublishBatch entry's) message, checked against its topic."""
    attributes = messages.parse_attributes(params.get("MessageAttributes"))
    text, subject = params.get("Message"), params.get("Subject")
    messages.check_message(text, subject, attributes)
    by_protocol = messages.messages_by_protocol(text, params.get("MessageStructure"))  # type: ignore[arg-type]
    group, deduplication = params.get("MessageGroupId"), params.get("MessageDeduplicationId")
    if topic.attributes.get("FifoTopic") == "true":
        if group is None:
            raise InvalidParameter("Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
        if deduplication is None:
            if topic.attributes.get("ContentBasedDeduplication") != "true":
                raise InvalidParameter("Invalid parameter: The topic should either have ContentBasedDeduplication "
                                       "enabled or MessageDeduplicationId provided explicitly")
            deduplication = hashlib.sha256(text.encode()).hexdigest()  # type: ignore[union-attr]
    else:
        for field, value in (("MessageGroupId", group), ("MessageDeduplicationId", deduplication)):
            if value is not None:
                raise InvalidParameter(f"Invalid parameter: {field} Reason: The request includes {field} "
                                       "parameter that is not valid for this topic type")
    for field, value in (("MessageGroupId", group), ("MessageDeduplicationId", deduplication)):
        if value is not None and (not isinstance(value, str) or not FIFO_ID.fullmatch(value)):
            raise InvalidParameter(f"Invalid parameter: {field} Reason: 1 to 128 alphanumeric or punctuation "
                                   "characters")
    return Message(text, subject, by_protocol, attributes, group, deduplication)  # type: ignore[arg-type]


def topic_attribute(key: str, value: object, fifo: bool) -> str:
    """A topic attribute's value as stored."""
    if key in TOPIC_NOT_SUPPORTED:
        raise InvalidParameter(f"Invalid parameter: Attributes Reason: {key}: {TOPIC_NOT_SUPPORTED[key]}")
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid parameter: Attributes Reason: {key} must be a string")
    if key == "ContentBasedDeduplication":
        if not fifo:
            raise InvalidParameter("Invalid parameter: Attributes Reason: ContentBasedDeduplication is a FIFO "
                                   "topic's attribute")
        if value.lower() not in ("true", "false"):
            raise InvalidParameter("Invalid parameter: Attributes Reason: ContentBasedDeduplication must be "
                                   "true or false")
        return value.lower()
    if key == "SignatureVersion" and value != "2":
        raise InvalidParameter("Invalid parameter: Attributes Reason: SignatureVersion: messages are signed "
                               "with SignatureVersion 2 (SHA256withRSA) only")
    if key == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise InvalidParameter("Invalid parameter: Attributes Reason: TracingConfig must be PassThrough or "
                               "Active")
    if key == "DisplayName" and len(value) > 100:
        raise InvalidParameter("Invalid parameter: Attributes Reason: DisplayName is at most 100 characters")
    if key not in TOPIC_SETTABLE:
        raise InvalidParameter(f"Invalid parameter: Attributes Reason: Unknown attribute {key[:128]}")
    return value


def attribute_map(attributes: object) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidParameter("Invalid parameter: Attributes must be a map of names to values")
    return dict(attributes)

def tags(tags: object) -> dict[str, str]:
    """Tags as SNS sends them, a list of {Key, Value}."""
    if tags is None:
        return {}
    if not isinstance(tags, list) or not all(isinstance(tag, dict) and isinstance(tag.get("Key"), str)
                                             and isinstance(tag.get("Value"), str) for tag in tags):
        raise InvalidParameter("Invalid parameter: Tags must be a list of {Key, Value}")
    parsed = {tag["Key"]: tag["Value"] for tag in tags}
    if any(not 1 <= len(key) <= 128 or len(value) > 256 for key, value in parsed.items()):
        raise InvalidParameter("Invalid parameter: Tags Reason: a key is 1 to 128 characters, a value at most 256")
    if len(parsed) > MAX_TAGS:
        raise InvalidParameter(f"Invalid parameter: Tags Reason: a topic has at most {MAX_TAGS} tags")
    return parsed

def after(next_token: object) -> str:
    if next_token is None or next_token == "":
        return ""
    if not isinstance(next_token, str) or len(next_token) > 256:
        raise InvalidParameter("Invalid parameter: NextToken")
    return next_token

def batch(entries: object) -> list[dict[str, Any]]:
    if not isinstance(entries, list) or not entries:
        raise SnsEmptyBatchRequest("The batch request doesn't contain any entries")
    if len(entries) > MAX_BATCH:
        raise SnsTooManyEntriesInBatchRequest(f"The batch request contains more entries than permissible "
                                              f"({MAX_BATCH}); it has {len(entries)}")
    seen = set()
    for entry in entries:
        entry_id = entry.get("Id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, str) or not BATCH_ID.fullmatch(entry_id):
            raise SnsInvalidBatchEntryId("The Id of a batch entry in a batch request doesn't abide by the "
                                         "specification (1 to 80 letters, digits, '-' and '_')")
        if entry_id in seen:
            raise SnsBatchEntryIdsNotDistinct(f"Two or more batch entries in the request have the same Id "
                                              f"({entry_id})")
        seen.add(entry_id)
    total = sum(len(str(entry.get("Message", "")).encode()) for entry in entries)
    if total > messages.MAX_MESSAGE_BYTES:
        raise SnsBatchRequestTooLong(f"The length of all the messages put together is more than the limit "
                                     f"({total} bytes; at most {messages.MAX_MESSAGE_BYTES})")
    return entries  # type: ignore[return-value]
