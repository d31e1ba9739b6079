"""SNS on the faas endpoint as methods of `TopicClient`: its query protocol (a form-encoded POST to `/` per
operation, `Action=<Operation>`, signed for the credential scope's service `sns`), answered in XML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from faas.client.transport import ClientError, Transport

SERVICE = "sns"
VERSION = "2010-03-31"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def _tag(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _find(root: ElementTree.Element, name: str) -> ElementTree.Element | None:
    return next((element for element in root.iter() if _tag(element) == name), None)


def _text(root: ElementTree.Element, name: str) -> str | None:
    found = _find(root, name)
    return found.text or "" if found is not None else None


def _members(root: ElementTree.Element, name: str) -> list[dict[str, str]]:
    """A wrapped list's members (`<Topics><member><TopicArn>...`) as dicts of their fields."""
    wrapper = _find(root, name)
    if wrapper is None:
        return []
    return [{_tag(field): field.text or "" for field in member} for member in wrapper if _tag(member) == "member"]


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Parameters as SNS's query protocol spells them: a map as `Name.entry.N.key/value` (or `.Name/.Value` for
    MessageAttributes), a list as `Name.member.N`."""
    form: dict[str, str] = {}
    for name, value in params.items():
        key = f"{prefix}{name}"
        if value is None:
            continue
        if isinstance(value, Mapping) and name in ("Attributes", "MessageAttributes"):
            key_name, value_name = ("Name", "Value") if name == "MessageAttributes" else ("key", "value")
            for index, (entry_key, entry_value) in enumerate(value.items(), start=1):
                form[f"{key}.entry.{index}.{key_name}"] = entry_key
                if isinstance(entry_value, Mapping):
                    form |= flatten(entry_value, f"{key}.entry.{index}.{value_name}.")
                else:
                    form[f"{key}.entry.{index}.{value_name}"] = str(entry_value)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value, start=1):
                if isinstance(item, Mapping):
                    form |= flatten(item, f"{key}.member.{index}.")
                else:
                    form[f"{key}.member.{index}"] = str(item)
        elif isinstance(value, bool):
            form[key] = "true" if value else "false"
        else:
            form[key] = str(value)
    return form


class TopicClient(Transport):
    """SNS's operations the `faas topics` verbs use; build one with TopicClient.from_settings."""

    def call(self, operation: str, params: Mapping[str, Any]) -> ElementTree.Element:
        body = urlencode({"Action": operation, "Version": VERSION, **flatten(params)}).encode()
        answer = self.request("POST", "/", body=body, headers={"Content-Type": FORM}, service=SERVICE)
        try:
            return ElementTree.fromstring(answer.body)
        except ElementTree.ParseError as exc:
            raise ClientError("InvalidResponse", f"the platform answered {operation} with {answer.body[:200]!r}",
                              answer.status) from exc

    def create_topic(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str] | None = None) -> str:
        tag_list = [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
        return str(_text(self.call("CreateTopic", {"Name": name, "Attributes": dict(attributes) or None,
                                                   "Tags": tag_list or None}), "TopicArn"))

    def tags(self, arn: str) -> dict[str, str]:
        return {tag["Key"]: tag["Value"] for tag in _members(self.call("ListTagsForResource", {"ResourceArn": arn}),
                                                             "Tags")}

    def list_topics(self) -> list[str]:
        """Every topic ARN, following NextToken."""
        arns: list[str] = []
        token: str | None = None
        while True:
            page = self.call("ListTopics", {"NextToken": token})
            arns += [member["TopicArn"] for member in _members(page, "Topics")]
            token = _text(page, "NextToken") or None
            if token is None:
                return arns

    def topic_attributes(self, arn: str) -> dict[str, str]:
        root = self.call("GetTopicAttributes", {"TopicArn": arn})
        return {entry[0].text or "": entry[1].text or "" for entry in root.iter() if _tag(entry) == "entry"}

    def subscription_attributes(self, arn: str) -> dict[str, str]:
        root = self.call("GetSubscriptionAttributes", {"SubscriptionArn": arn})
        return {entry[0].text or "": entry[1].text or "" for entry in root.iter() if _tag(entry) == "entry"}

    def set_subscription_attribute(self, arn: str, name: str, value: str) -> None:
        self.call("SetSubscriptionAttributes", {"SubscriptionArn": arn, "AttributeName": name,
                                                "AttributeValue": value})

    def set_topic_attribute(self, arn: str, name: str, value: str) -> None:
        self.call("SetTopicAttributes", {"TopicArn": arn, "AttributeName": name, "AttributeValue": value})

    def subscriptions(self, arn: str | None = None) -> list[dict[str, str]]:
        """A topic's subscriptions (every topic's with None), following NextToken."""
        found: list[dict[str, str]] = []
        token: str | None = None
        while True:
            if arn is None:
                page = self.call("ListSubscriptions", {"NextToken": token})
            else:
                page = self.call("ListSubscriptionsByTopic", {"TopicArn": arn, "NextToken": token})
            found += _members(page, "Subscriptions")
            token = _text(page, "NextToken") or None
            if token is None:
                return found

    def unsubscribe(self, subscription_arn: str) -> None:
        self.call("Unsubscribe", {"SubscriptionArn": subscription_arn})

    def delete_topic(self, arn: str) -> None:
        self.call("DeleteTopic", {"TopicArn": arn})

    def publish(self, arn: str, message: str, *, subject: str | None = None,
                attributes: Mapping[str, Mapping[str, str]] | None = None, group_id: str | None = None,
                deduplication_id: str | None = None) -> dict[str, str]:
        root = self.call("Publish", {"TopicArn": arn, "Message": message, "Subject": subject,
                                     "MessageAttributes": dict(attributes) if attributes else None,
                                     "MessageGroupId": group_id, "MessageDeduplicationId": deduplication_id})
        answer = {"MessageId": _text(root, "MessageId") or ""}
        sequence = _text(root, "SequenceNumber")
        if sequence:
            answer["SequenceNumber"] = sequence
        return answer

    def subscribe(self, arn: str, protocol: str, endpoint: str, attributes: Mapping[str, str]) -> str:
        root = self.call("Subscribe", {"TopicArn": arn, "Protocol": protocol, "Endpoint": endpoint,
                                       "Attributes": dict(attributes) or None, "ReturnSubscriptionArn": True})
        return str(_text(root, "SubscriptionArn"))
