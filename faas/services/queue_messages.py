"""SQS messages as SQS defines them: what a body and its message attributes may hold, their size, the MD5
digests SDKs check (MD5OfMessageBody, MD5OfMessageAttributes), how a message is kept in a work item, and
receipt handles."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import secrets
import struct
from typing import Any

from faas.errors import InvalidMessageContents, MissingParameter, ReceiptHandleIsInvalid, SqsInvalidParameterValue

MAX_ATTRIBUTES = 10
# XML 1.0's characters, as SQS allows them in bodies and attribute values.
_INVALID_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,250})?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclasses.dataclass(frozen=True)
class Attribute:
    data_type: str
    value: str | bytes  # bytes for Binary types

    @property
    def binary(self) -> bool:
        return self.data_type.startswith("Binary")

    def wire(self) -> dict[str, Any]:
        """As the JSON protocol carries it: binary values in base64."""
        if isinstance(self.value, bytes):
            return {"DataType": self.data_type, "BinaryValue": base64.b64encode(self.value).decode()}
        return {"DataType": self.data_type, "StringValue": self.value}

    def size(self) -> int:
        value = self.value if isinstance(self.value, bytes) else self.value.encode()
        return len(self.data_type.encode()) + len(value)


def check_body(body: object) -> str:
    if body is None:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    if not isinstance(body, str) or not body:
        raise SqsInvalidParameterValue("Value for parameter MessageBody is invalid. Reason: it must be a "
                                       "non-empty string.")
    bad = _INVALID_CHARS.search(body)
    if bad:
        raise InvalidMessageContents(f"Invalid binary character '#x{ord(bad.group()):X}' was found in the message "
                                     "body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | "
                                     "#xE000 to #xFFFD | #x10000 to #x10FFFF")
    return body


def parse_attributes(raw: object) -> dict[str, Attribute]:
    """MessageAttributes as sent, checked as SQS checks them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SqsInvalidParameterValue("MessageAttributes must be a map of names to attribute values.")
    if len(raw) > MAX_ATTRIBUTES:
        raise SqsInvalidParameterValue(f"Number of message attributes [{len(raw)}] exceeds the allowed maximum "
                                       f"[{MAX_ATTRIBUTES}].")
    parsed = {}
    for name, value in raw.items():
        if (not _ATTRIBUTE_NAME.fullmatch(name) or name.startswith((".", "AWS.", "Amazon.")) or name.endswith(".")
                or ".." in name):
            raise SqsInvalidParameterValue(
                f"The message attribute name '{name[:256]}' is invalid: 1 to 256 characters of A-Z, a-z, 0-9, "
                "'_', '-' and '.', not starting or ending with '.', without '..', and not starting with 'AWS.' or "
                "'Amazon.'.")
        if not isinstance(value, dict):
            raise SqsInvalidParameterValue(f"The message attribute '{name}' must be an object with a DataType.")
        data_type = value.get("DataType")
        if not isinstance(data_type, str) or not _DATA_TYPE.fullmatch(data_type):
            raise SqsInvalidParameterValue(f"The message attribute '{name}' has an invalid DataType "
                                           f"{str(data_type)[:256]!r}: it must be String, Number or Binary, "
                                           "optionally followed by '.' and a custom type.")
        if data_type.startswith("Binary"):
            encoded = value.get("BinaryValue")
            try:
                binary = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
            except binascii.Error:
                binary = None
            if not binary:
                raise SqsInvalidParameterValue(f"The message attribute '{name}' with type 'Binary' must have a "
                                               "non-empty, base64-encoded BinaryValue.")
            parsed[name] = Attribute(data_type, binary)
            continue
        text = value.get("StringValue")
        if not isinstance(text, str) or not text:
            raise SqsInvalidParameterValue(f"The message attribute '{name}' with type '{data_type.split('.')[0]}' "
                                           "must have a non-empty StringValue.")
        if _INVALID_CHARS.search(text):
            raise InvalidMessageContents(f"The message attribute '{name}' holds characters outside the allowed set.")
        if data_type.startswith("Number") and not _NUMBER.fullmatch(text):
            raise SqsInvalidParameterValue(f"Can't cast the value of message attribute '{name}' to a number.")
        parsed[name] = Attribute(data_type, text)
    return parsed


def message_size(body: str, attributes: dict[str, Attribute]) -> int:
    """What counts against MaximumMessageSize: the body, and each attribute's name, type and value."""
    return len(body.encode()) + sum(len(name.encode()) + attribute.size() for name, attribute in attributes.items())


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: dict[str, Attribute]) -> str | None:
    """SQS's digest of message attributes: for each attribute in name order, the name, the data type and the
    value, each as a 4-byte big-endian length and its UTF-8 bytes, with a transport byte (1 string, 2 binary)
    before the value."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)

    def field(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        attribute = attributes[name]
        field(name.encode())
        field(attribute.data_type.encode())
        if isinstance(attribute.value, bytes):
            digest.update(b"\x02")
            field(attribute.value)
        else:
            digest.update(b"\x01")
            field(attribute.value.encode())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class StoredMessage:
    """A message as its work item's payload keeps it."""

    body: str
    attributes: dict[str, Attribute]
    sender_id: str
    sent_ms: int
    source_arn: str | None = None  # the queue it came from, once moved to a dead-letter queue
    group_id: str | None = None  # MessageGroupId (FIFO queues; fair standard queues)
    deduplication_id: str | None = None  # MessageDeduplicationId (FIFO queues)

    def encode(self) -> bytes:
        return json.dumps({"body": self.body, "sender": self.sender_id, "sent": self.sent_ms,
                           "attributes": {name: a.wire() for name, a in self.attributes.items()},
                           "source": self.source_arn, "group": self.group_id,
                           "deduplication": self.deduplication_id}).encode()

    @classmethod
    def decode(cls, payload: bytes) -> StoredMessage:
        data = json.loads(payload)
        attributes = {name: Attribute(a["DataType"], base64.b64decode(a["BinaryValue"]) if "BinaryValue" in a
                                      else a["StringValue"]) for name, a in data["attributes"].items()}
        return cls(data["body"], attributes, data["sender"], data["sent"], data.get("source"), data.get("group"),
                   data.get("deduplication"))


def lease_token() -> str:
    """One receive's lease owner: unguessable, so only its receipt handles can act on what it received."""
    return secrets.token_urlsafe(18)


def receipt_handle(queue: str, item_id: int, token: str) -> str:
    """Opaque to clients; binds the queue, the message and the receive that handed it out."""
    return base64.urlsafe_b64encode(f"{queue}\n{item_id}\n{token}".encode()).decode()


def parse_receipt_handle(queue: str, handle: object) -> tuple[int, str]:
    """The message and the receive a handle names, refused when it is not one this queue handed out."""
    invalid = ReceiptHandleIsInvalid(f"The input receipt handle \"{str(handle)[:1024]}\" is not a valid receipt "
                                     "handle.")
    if not isinstance(handle, str) or not handle:
        raise invalid
    try:
        named_queue, item_id, token = base64.urlsafe_b64decode(handle.encode()).decode().split("\n")
        number = int(item_id)
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid from None
    if named_queue != queue or not token:
        raise invalid
    return number, token
