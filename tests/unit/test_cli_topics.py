"""`faas topics`: parsing, the endpoints and attributes the options make, and SNS's query-protocol parameters
the client sends (tests/e2e/test_cli_topics_e2e.py drives a real server)."""

from __future__ import annotations

import argparse

import pytest

from faas import cli
from faas.cli import topics
from faas.client.topics import flatten
from faas.errors import ConfigError

TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"


def subscribe_args(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {"function": None, "queue": None, "http": None, "filter": None,
                                 "filter_body": False, "raw": False}
    values.update(given)
    return argparse.Namespace(**values)


@pytest.mark.parametrize("argv", [["topics"], ["topics", "create"], ["topics", "publish", "t"],
                                  ["topics", "subscribe", "t"], ["topics", "rm"]])
def test_incomplete_commands_are_usage_errors(argv, capsys):
    assert cli.main(argv) == 2


@pytest.mark.parametrize(("given", "expected"), [
    ({"function": "hello"}, ("lambda", "arn:aws:lambda:eu-west-1:123456789012:function:hello")),
    ({"function": "arn:aws:lambda:eu-west-1:123456789012:function:x"},
     ("lambda", "arn:aws:lambda:eu-west-1:123456789012:function:x")),
    ({"queue": "audit"}, ("sqs", "arn:aws:sqs:eu-west-1:123456789012:audit")),
    ({"queue": "http://127.0.0.1:9000/123456789012/audit"}, ("sqs", "arn:aws:sqs:eu-west-1:123456789012:audit")),
    ({"http": "https://hooks.example.com/x"}, ("https", "https://hooks.example.com/x")),
])
def test_endpoints_are_named_in_the_topics_account_and_region(given, expected):
    assert topics.endpoint_of(subscribe_args(**given), TOPIC) == expected


def test_subscription_options_become_attributes():
    assert topics.subscription_attributes(subscribe_args(queue="q", filter='{"k": ["v"]}', filter_body=True,
                                                         raw=True)) == {
        "FilterPolicy": '{"k": ["v"]}', "FilterPolicyScope": "MessageBody", "RawMessageDelivery": "true"}
    for bad in (subscribe_args(function="f", raw=True), subscribe_args(queue="q", filter="{oops"),
                subscribe_args(queue="q", filter_body=True)):
        with pytest.raises(ConfigError):
            topics.subscription_attributes(bad)
    with pytest.raises(ConfigError):
        topics.endpoint_of(subscribe_args(http="ftp://x"), TOPIC)


def test_parameters_are_flattened_as_snss_query_protocol_spells_them():
    assert flatten({"TopicArn": "t", "Message": "m", "ReturnSubscriptionArn": True, "Subject": None,
                    "Attributes": {"RawMessageDelivery": "true"},
                    "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
                    "TagKeys": ["a", "b"], "Tags": [{"Key": "x", "Value": "y"}]}) == {
        "TopicArn": "t", "Message": "m", "ReturnSubscriptionArn": "true",
        "Attributes.entry.1.key": "RawMessageDelivery", "Attributes.entry.1.value": "true",
        "MessageAttributes.entry.1.Name": "k", "MessageAttributes.entry.1.Value.DataType": "String",
        "MessageAttributes.entry.1.Value.StringValue": "v",
        "TagKeys.member.1": "a", "TagKeys.member.2": "b", "Tags.member.1.Key": "x", "Tags.member.1.Value": "y"}
