"""What a rule's target receives (faas.services.event_inputs): Input, InputPath and InputTransformer, with
the examples of EventBridge's documentation ("Amazon EventBridge input transformation", the
InputTransformer API reference): the same event, templates and expected outputs."""

from __future__ import annotations

import json

import pytest

from faas.errors import EventsValidation
from faas.services.event_inputs import check_target_input, parse_path, target_input

# The documentation's example event.
EVENT = {
    "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2", "account": "123456789012", "time": "2015-11-11T21:29:54Z", "region": "us-east-2",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE_ARN = "arn:aws:events:us-east-2:123456789012:rule/example"


def transformed(template: str, paths: dict | None = None) -> str:  # type: ignore[type-arg]
    target = {"InputTransformer": {"InputPathsMap": PATHS if paths is None else paths, "InputTemplate": template}}
    check_target_input(target)
    return target_input(target, EVENT, rule_arn=RULE_ARN, rule_name="example",
                        ingestion_time="2015-11-11T21:29:55Z")


@pytest.mark.parametrize(("template", "expected"), [
    # Simple JSON: values outside quotes go in as JSON.
    ('{"instance" : <instance>, "state": <state>}', '{"instance" : "i-0123456789", "state": "RUNNING"}'),
    # JSON with a mix of variables and static information.
    ('{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
     '{"instance" : "i-0123456789", "state": [ 9, "RUNNING", true ], "Transformed" : "Yes"}'),
    # Reserved variables in a string.
    ('"<aws.events.rule-name> triggered"', '"example triggered"'),
    # A string: inside quotes, a value's text.
    ('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"'),
    # The API reference's forms: plain text, escaped quotes, and JSON with variables in quotes and out.
    ("<instance> is in state <state>", "i-0123456789 is in state RUNNING"),
    ('<instance> is in state "<state>"', 'i-0123456789 is in state "RUNNING"'),
    ('{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<state>\\""}',
     '{"myInstance": "i-0123456789","myStatus": "i-0123456789 is in state \\"RUNNING\\""}'),
])
def test_documented_templates(template, expected):
    assert transformed(template) == expected


def test_reserved_variables_in_json_including_the_original_event():
    out = json.loads(transformed('{"instance" : <instance>, "state": <state>, "ruleArn" : <aws.events.rule-arn>, '
                                 '"ruleName" : <aws.events.rule-name>, "originalEvent" : <aws.events.event>, '
                                 '"at": "<aws.events.event.ingestion-time>"}'))
    assert out == {"instance": "i-0123456789", "state": "RUNNING", "ruleArn": RULE_ARN, "ruleName": "example",
                   "originalEvent": EVENT, "at": "2015-11-11T21:29:55Z"}


def test_objects_numbers_and_missing_values():
    event_paths = {"detail": "$.detail", "first": "$.resources[0]", "gone": "$.detail.nothing"}
    out = json.loads(transformed('{"d": <detail>, "r": "<first>", "g": <gone>, "t": "[<detail>]", "h": "<gone>"}',
                                 event_paths))
    assert out == {"d": EVENT["detail"], "r": EVENT["resources"][0], "g": None,
                   "t": "[" + json.dumps(EVENT["detail"]) + "]", "h": ""}


def test_input_and_input_path_and_the_whole_event():
    def run(target: dict) -> str:  # type: ignore[type-arg]
        check_target_input(target)
        return target_input(target, EVENT, rule_arn=RULE_ARN, rule_name="example", ingestion_time="t")
    assert run({"Input": '{"fixed": true}'}) == '{"fixed": true}'
    assert json.loads(run({"InputPath": "$.detail"})) == EVENT["detail"]
    assert json.loads(run({"InputPath": "$.detail.state"})) == "RUNNING"
    assert json.loads(run({"InputPath": "$"})) == EVENT
    assert json.loads(run({})) == EVENT


def test_paths_are_the_documented_subset():
    assert parse_path("$.detail.instance-id", "p") == ["detail", "instance-id"]
    assert parse_path("$.resources[0]", "p") == ["resources", 0]
    for bad in ("detail", "$..x", "$.a[x]", "$ .a", 7):
        with pytest.raises(EventsValidation):
            parse_path(bad, "p")


@pytest.mark.parametrize("target", [
    {"Input": "{not json"},
    {"Input": "{}", "InputPath": "$"},
    {"InputPath": "detail"},
    {"InputTransformer": {"InputPathsMap": {"a": "$.a"}}},
    {"InputTransformer": {"InputPathsMap": {"bad key": "$.a"}, "InputTemplate": "<a>"}},
    {"InputTransformer": {"InputPathsMap": {"aws.events.rule-arn": "$.a"}, "InputTemplate": "x"}},
    {"InputTransformer": {"InputPathsMap": {f"k{n}": "$.a" for n in range(101)}, "InputTemplate": "x"}},
    {"InputTransformer": "<a>"},
])
def test_bad_target_inputs_are_refused(target):
    with pytest.raises(EventsValidation):
        check_target_input(target)
