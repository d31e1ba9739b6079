"""SNS messages as pure values: a publish's message attributes checked, the message chosen per protocol
(MessageStructure json), the JSON envelope HTTP endpoints and queues receive, Lambda's SNS event, and what a
subscription's filter policy is matched against."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
from typing import Any

from faas.errors import InvalidParameter
from faas.errors import SnsInvalidParameterValue as InvalidAttributeValue

MAX_MESSAGE_BYTES = 256 * 1024  # a message with its attributes, as SNS counts it
MAX_SUBJECT = 100
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_\-.]{1,256}")
DATA_TYPES = ("String", "Number", "Binary", "String.Array")


@dataclasses.dataclass(frozen=True)
class Attribute:
    data_type: str
    value: str  # the string value, or a binary value as base64 (as the envelope shows it)

    @property
    def binary(self) -> bool:
        return self.data_type.startswith("Binary")

    def envelope(self) -> dict[str, str]:
        return {"Type": self.data_type, "Value": self.value}

    def sqs(self) -> dict[str, Any]:
        """As an SQS message attribute (raw delivery to a queue)."""
        if self.binary:
            return {"DataType": self.data_type, "BinaryValue": self.value}
        return {"DataType": self.data_type, "StringValue": self.value}

    def size(self, name: str) -> int:
        return len(name.encode()) + len(self.data_type.encode()) + len(self.value.encode())


def parse_attributes(attributes: object) -> dict[str, Attribute]:
    """Publish's MessageAttributes, checked as SNS checks them."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidParameter("Invalid parameter: MessageAttributes must be a map of names to values.")
    parsed = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not ATTRIBUTE_NAME.fullmatch(name) or ".." in name \
                or name.startswith((".", "AWS.", "Amazon.")) or name.endswith("."):
            raise InvalidAttributeValue(f"The message attribute name '{str(name)[:256]}' is invalid: use up to 256 "
                                        "letters, digits, '_', '-' and '.', not starting with AWS. or Amazon.")
        if not isinstance(value, dict) or not isinstance(value.get("DataType"), str):
            raise InvalidAttributeValue(f"The message attribute '{name}' must contain a DataType.")
        data_type = value["DataType"]
        if data_type not in DATA_TYPES and data_type.split(".", 1)[0] not in ("String", "Number", "Binary"):
            raise InvalidAttributeValue(f"The message attribute '{name}' has an invalid message attribute type, "
                                        "the set of supported type prefixes is Binary, Number, and String.")
        if data_type.startswith("Binary"):
            parsed[name] = Attribute(data_type, _binary(name, value.get("BinaryValue")))
            continue
        text = value.get("StringValue")
        if not isinstance(text, str) or (data_type != "String" and not text):
            raise InvalidAttributeValue(f"The message attribute '{name}' with type '{data_type}' must contain a "
                                        "non-empty message attribute value.")
        if data_type.startswith("Number"):
            try:
                float(text)
            except ValueError:
                raise InvalidAttributeValue(f"The message attribute '{name}' with type 'Number' must contain a "
                                            f"number, not {text[:64]!r}.") from None
        if data_type == "String.Array":
            try:
                array = json.loads(text)
            except ValueError:
                array = None
            if not isinstance(array, list):
                raise InvalidAttributeValue(f"The message attribute '{name}' with type 'String.Array' must contain "
                                            "a JSON array.")
        parsed[name] = Attribute(data_type, text)
    return parsed


def _binary(name: str, value: object) -> str:
    """A binary value as base64: boto3 sends it base64-encoded already."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, str) and value:
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise InvalidAttributeValue(f"The message attribute '{name}' has a BinaryValue that is not "
                                        "base64.") from None
        return value
    raise InvalidAttributeValue(f"The message attribute '{name}' with type 'Binary' must contain a non-empty "
                                "message attribute value.")


def check_message(message: object, subject: object, attributes: dict[str, Attribute]) -> None:
    if not isinstance(message, str) or not message:
        raise InvalidParameter("Invalid parameter: Empty message")
    size = len(message.encode()) + sum(value.size(name) for name, value in attributes.items())
    if size > MAX_MESSAGE_BYTES:
        raise InvalidParameter(f"Invalid parameter: Message too long (it is {size} bytes with its attributes; "
                               f"at most {MAX_MESSAGE_BYTES})")
    if subject is not None and (not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT
                                or not subject.isascii() or not subject.isprintable()):
        raise InvalidParameter("Invalid parameter: Subject (1 to 100 ASCII characters, no line breaks)")


def messages_by_protocol(message: str, structure: object) -> dict[str, str] | None:
    """With MessageStructure json, the message for each protocol that names one (and "default"); None
    without: every protocol gets the message as it is."""
    if structure is None:
        return None
    if structure != "json":
        raise InvalidParameter("Invalid parameter: MessageStructure (the only structure is json)")
    try:
        parsed = json.loads(message)
    except ValueError:
        raise InvalidParameter("Invalid parameter: Message Structure - JSON message body failed to parse") from None
    if not isinstance(parsed, dict):
        raise InvalidParameter("Invalid parameter: Message Structure - JSON message body failed to parse")
    if not isinstance(parsed.get("default"), str):
        raise InvalidParameter("Invalid parameter: Message Structure - No default entry in JSON message body")
    if not all(isinstance(value, str) for value in parsed.values()):
        raise InvalidParameter("Invalid parameter: Message Structure - every protocol's message must be a string")
    return parsed


def timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def signed_fields(*, message_id: str, topic_arn: str, message: str, subject: str | None,
                  at: str) -> dict[str, str]:
    """A notification's fields that its signature covers."""
    fields = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn, "Message": message,
              "Timestamp": at}
    if subject is not None:
        fields["Subject"] = subject
    return fields


def envelope(fields: dict[str, str], *, signature: str, certificate_url: str, unsubscribe_url: str,
             attributes: dict[str, Attribute]) -> dict[str, Any]:
    """The JSON document HTTP endpoints and queues receive (SNS's key order)."""
    document: dict[str, Any] = {"Type": fields["Type"], "MessageId": fields["MessageId"],
                                "TopicArn": fields["TopicArn"]}
    if "Subject" in fields:
        document["Subject"] = fields["Subject"]
    document |= {"Message": fields["Message"], "Timestamp": fields["Timestamp"], "SignatureVersion": "2",
                 "Signature": signature, "SigningCertURL": certificate_url, "UnsubscribeURL": unsubscribe_url}
    if attributes:
        document["MessageAttributes"] = {name: value.envelope() for name, value in attributes.items()}
    return document


def lambda_event(fields: dict[str, str], *, subscription_arn: str, signature: str, certificate_url: str,
                 unsubscribe_url: str, attributes: dict[str, Attribute]) -> dict[str, Any]:
    """Lambda's SNS event: one record, as Lambda delivers each message."""
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": fields["Type"], "MessageId": fields["MessageId"], "TopicArn": fields["TopicArn"],
            "Subject": fields.get("Subject"), "Message": fields["Message"], "Timestamp": fields["Timestamp"],
            "SignatureVersion": "2", "Signature": signature, "SigningCertUrl": certificate_url,
            "UnsubscribeUrl": unsubscribe_url,
            "MessageAttributes": {name: value.envelope() for name, value in attributes.items()},
        },
    }]}


def filter_event(scope: str, message: str, attributes: dict[str, Attribute]) -> dict[str, Any] | None:
    """What a filter policy is matched against: the attributes as values (a String.Array's parsed array;
    Binary ones are not matchable), or the message body parsed as a JSON object (None when it is not one,
    which then matches no policy)."""
    if scope == "MessageBody":
        try:
            body = json.loads(message)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    event: dict[str, Any] = {}
    for name, value in attributes.items():
        if value.binary:
            continue
        if value.data_type == "String.Array":
            event[name] = json.loads(value.value)
        elif value.data_type.startswith("Number"):
            number = float(value.value)
            event[name] = int(number) if number.is_integer() else number
        else:
            event[name] = value.value
    return event
