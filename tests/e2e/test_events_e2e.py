"""EventBridge on the platform's one endpoint, through boto3's `events` client against a real `faas serve`:
buses, rules, targets and TestEventPattern, bad input in EventBridge's error shapes with nothing stored
changed, and callers authorised per action and audited."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import Server, unique
from tests.e2e.test_security_e2e import audit, make_principal

ACCOUNT = "000000000000"
REGION = "us-east-1"
ARN = f"arn:aws:events:{REGION}:{ACCOUNT}"


def events_client(server: Server, credentials=None):  # type: ignore[no-untyped-def]
    credentials = credentials or server.credentials()
    return boto3.client(
        "events", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}, read_timeout=60, connect_timeout=5,
                      parameter_validation=False),  # the server must catch bad input itself
    )


@pytest.fixture(scope="module")
def events(server: Server):  # type: ignore[no-untyped-def]
    return events_client(server)


def refused(call, code: str, status: int = 400, **params):  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (status, code), error
    assert error["Message"]
    return caught.value


PATTERN = json.dumps({"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", 100]}]}})
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sink"


def test_the_default_bus_exists_and_cannot_be_deleted(events):
    described = events.describe_event_bus()
    assert (described["Name"], described["Arn"]) == ("default", f"{ARN}:event-bus/default")
    assert events.describe_event_bus(Name=f"{ARN}:event-bus/default")["Name"] == "default"
    refused(events.delete_event_bus, "ValidationException", Name="default")
    assert "default" in [bus["Name"] for bus in events.list_event_buses()["EventBuses"]]


def test_custom_buses_are_created_listed_described_and_deleted(events):
    name = unique("orders")
    created = events.create_event_bus(Name=name, Description="orders of the shop")
    assert created["EventBusArn"] == f"{ARN}:event-bus/{name}"
    error = refused(events.create_event_bus, "ResourceAlreadyExistsException", Name=name)
    assert isinstance(error, events.exceptions.ResourceAlreadyExistsException)
    assert events.describe_event_bus(Name=name)["Description"] == "orders of the shop"
    listed = events.list_event_buses(NamePrefix=name)["EventBuses"]
    assert [bus["Name"] for bus in listed] == [name]
    # A bus with rules is kept until they go.
    events.put_rule(Name="r", EventBusName=name, EventPattern=PATTERN)
    refused(events.delete_event_bus, "ValidationException", Name=name)
    events.delete_rule(Name="r", EventBusName=name)
    events.delete_event_bus(Name=name)
    refused(events.describe_event_bus, "ResourceNotFoundException", Name=name)
    events.delete_event_bus(Name=name)  # as EventBridge: deleting what is gone succeeds
    # What faas's buses do not do is refused by name, and creates nothing.
    for unsupported in ({"KmsKeyIdentifier": "alias/key"}, {"DeadLetterConfig": {"Arn": "arn:aws:sqs:x"}},
                        {"Tags": [{"Key": "a", "Value": "b"}]}):
        refused(events.create_event_bus, "ValidationException", Name=name, **unsupported)
    refused(events.describe_event_bus, "ResourceNotFoundException", Name=name)


def test_buses_page_with_limit_and_token(events):
    prefix = unique("page")
    names = sorted(f"{prefix}-{n}" for n in range(5))
    for name in names:
        events.create_event_bus(Name=name)
    seen, token = [], None
    while True:
        page = events.list_event_buses(NamePrefix=prefix, Limit=2, **({"NextToken": token} if token else {}))
        seen += [bus["Name"] for bus in page["EventBuses"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names


def test_a_rule_is_put_described_listed_disabled_enabled_and_deleted(events):
    name = unique("big-orders")
    arn = events.put_rule(Name=name, EventPattern=PATTERN, Description="orders over 100")["RuleArn"]
    assert arn == f"{ARN}:rule/{name}"
    rule = events.describe_rule(Name=name)
    assert {key: rule[key] for key in ("Name", "Arn", "EventPattern", "State", "Description", "EventBusName")} == {
        "Name": name, "Arn": arn, "EventPattern": PATTERN, "State": "ENABLED", "Description": "orders over 100",
        "EventBusName": "default"}
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "ENABLED"
    assert [r["Name"] for r in events.list_rules(NamePrefix=name)["Rules"]] == [name]
    # PutRule again replaces it.
    events.put_rule(Name=name, EventPattern=PATTERN, State="DISABLED")
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.delete_rule(Name=name)
    refused(events.describe_rule, "ResourceNotFoundException", Name=name)


def test_rules_on_a_custom_bus_have_the_bus_in_their_arn_and_page(events):
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    names = sorted(f"rule-{n}" for n in range(3))
    for name in names:
        assert events.put_rule(Name=name, EventBusName=bus, EventPattern=PATTERN)["RuleArn"] == \
            f"{ARN}:rule/{bus}/{name}"
    first = events.list_rules(EventBusName=bus, Limit=2)
    second = events.list_rules(EventBusName=f"{ARN}:event-bus/{bus}", Limit=2, NextToken=first["NextToken"])
    assert [r["Name"] for r in first["Rules"] + second["Rules"]] == names
    assert "NextToken" not in second
    assert events.list_rules(NamePrefix="rule-", EventBusName="default")["Rules"] == []
    refused(events.list_rules, "ResourceNotFoundException", EventBusName=unique("nobus"))
    refused(events.put_rule, "ResourceNotFoundException", Name="x", EventBusName=unique("nobus"), EventPattern=PATTERN)


def test_targets_are_put_listed_limited_and_removed(events):
    rule = unique("with-targets")
    events.put_rule(Name=rule, EventPattern=PATTERN)
    transformer = {"InputPathsMap": {"total": "$.detail.total"}, "InputTemplate": '{"amount": <total>}'}
    answer = events.put_targets(Rule=rule, Targets=[
        {"Id": "fn", "Arn": FUNCTION, "InputTransformer": transformer},
        {"Id": "q", "Arn": QUEUE, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/faas-default", "InputPath": "$.detail"},
        {"Id": "bad-arn", "Arn": "arn:aws:s3:::bucket"},
        {"Id": "bad-input", "Arn": QUEUE, "Input": "{not json"},
        {"Id": "two-inputs", "Arn": QUEUE, "Input": "{}", "InputPath": "$.detail"},
        {"Id": "elsewhere", "Arn": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:sink"},
    ])
    assert answer["FailedEntryCount"] == 4
    assert {e["TargetId"]: e["ErrorCode"] for e in answer["FailedEntries"]} == {
        "bad-arn": "ValidationException", "bad-input": "ValidationException", "two-inputs": "ValidationException",
        "elsewhere": "ValidationException"}
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert targets == [
        {"Id": "fn", "Arn": FUNCTION, "InputTransformer": transformer},
        {"Id": "q", "Arn": QUEUE, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/faas-default", "InputPath": "$.detail"}]
    page = events.list_targets_by_rule(Rule=rule, Limit=1)
    assert [t["Id"] for t in page["Targets"]] == ["fn"]
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule, NextToken=page["NextToken"])["Targets"]] == ["q"]
    # Five targets a rule: a sixth is refused whole, and nothing of the request is stored.
    more = [{"Id": f"t{n}", "Arn": QUEUE} for n in range(4)]
    refused(events.put_targets, "LimitExceededException", Rule=rule, Targets=more)
    assert len(events.list_targets_by_rule(Rule=rule)["Targets"]) == 2
    # A rule with targets is not deleted (EventBridge's own words), unless forced.
    error = refused(events.delete_rule, "ValidationException", Name=rule)
    assert "has targets" in error.response["Error"]["Message"]
    removed = events.remove_targets(Rule=rule, Ids=["q", "missing"])
    assert removed["FailedEntryCount"] == 1 and removed["FailedEntries"][0]["TargetId"] == "missing"
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]] == ["fn"]
    events.delete_rule(Name=rule, Force=True)
    refused(events.list_targets_by_rule, "ResourceNotFoundException", Rule=rule)
    refused(events.put_targets, "ResourceNotFoundException", Rule=rule, Targets=[{"Id": "a", "Arn": QUEUE}])


def test_bad_patterns_and_rules_are_refused_and_change_nothing(events):
    rule = unique("kept")
    events.put_rule(Name=rule, EventPattern=PATTERN)
    for bad in ("{not json", "[1, 2]", json.dumps({"source": "not-a-list"}),
                json.dumps({"detail": {"n": [{"numeric": [">", "x"]}]}}), json.dumps({"a": [{"nope": 1}]})):
        error = refused(events.put_rule, "InvalidEventPatternException", Name=rule, EventPattern=bad)
        assert isinstance(error, events.exceptions.InvalidEventPatternException)
        refused(events.test_event_pattern, "InvalidEventPatternException", EventPattern=bad, Event="{}")
    assert events.describe_rule(Name=rule)["EventPattern"] == PATTERN
    refused(events.put_rule, "ValidationException", Name=rule)  # neither pattern nor schedule
    refused(events.put_rule, "ValidationException", Name=rule, EventPattern=PATTERN, State="SOMETIMES")
    refused(events.put_rule, "ValidationException", Name="bad name!", EventPattern=PATTERN)
    for schedule in ("rate(0 minutes)", "rate(5 minute)", "cron(nope)", "at(2030-01-01T00:00:00)", "every 5 min"):
        error = refused(events.put_rule, "ValidationException", Name=rule, ScheduleExpression=schedule)
        assert "ScheduleExpression" in error.response["Error"]["Message"]
    refused(events.put_rule, "ValidationException", Name=rule, ScheduleExpression="rate(5 minutes)",
            EventPattern=PATTERN)
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    error = refused(events.put_rule, "ValidationException", Name=rule, ScheduleExpression="rate(5 minutes)",
                    EventBusName=bus)
    assert "default event bus" in error.response["Error"]["Message"]
    assert events.describe_rule(Name=rule)["EventPattern"] == PATTERN
    refused(events.list_rules, "ValidationException", Limit=0)
    assert events.describe_rule(Name=rule)["State"] == "ENABLED"


def test_test_event_pattern_matches_as_eventbridge(events):
    event = {"id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "Order Placed", "source": "shop.orders",
             "account": ACCOUNT, "time": "2026-12-01T10:00:00Z", "region": REGION, "resources": [],
             "detail": {"total": 250}}
    assert events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(event))["Result"] is True
    event["detail"]["total"] = 50
    assert events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(event))["Result"] is False
    del event["account"]
    refused(events.test_event_pattern, "ValidationException", EventPattern=PATTERN, Event=json.dumps(event))
    refused(events.test_event_pattern, "ValidationException", EventPattern=PATTERN, Event="not json")


def test_callers_are_authorised_per_rule_and_audited(server, events):
    rule = unique("guarded")
    other = unique("other")
    events.put_rule(Name=other, EventPattern=PATTERN)
    credentials = make_principal(server, unique("rules-admin"), [
        {"Effect": "Allow", "Action": ["events:PutRule", "events:DescribeRule"], "Resource": f"{ARN}:rule/{rule}"}])
    limited = events_client(server, credentials)
    limited.put_rule(Name=rule, EventPattern=PATTERN)
    assert limited.describe_rule(Name=rule)["Name"] == rule
    refused(limited.describe_rule, "AccessDeniedException", 403, Name=other)
    refused(limited.delete_rule, "AccessDeniedException", 403, Name=rule)
    refused(limited.list_rules, "AccessDeniedException", 403)
    # Naming a role for a rule's deliveries is passing it: iam:PassRole on that role, else nothing is stored.
    role = f"arn:aws:iam::{ACCOUNT}:role/faas-default"
    target = {"Id": "q", "Arn": QUEUE, "RoleArn": role}
    passer = make_principal(server, unique("passer"), [
        {"Effect": "Allow", "Action": ["events:PutTargets", "events:ListTargetsByRule", "events:PutRule"],
         "Resource": f"{ARN}:rule/{rule}"}])
    as_passer = events_client(server, passer)
    error = refused(as_passer.put_targets, "AccessDeniedException", 403, Rule=rule, Targets=[target])
    assert "iam:PassRole" in error.response["Error"]["Message"]
    refused(as_passer.put_rule, "AccessDeniedException", 403, Name=rule, EventPattern=PATTERN, RoleArn=role)
    assert as_passer.list_targets_by_rule(Rule=rule)["Targets"] == []
    refused(events.put_targets, "ValidationException", Rule=rule,
            Targets=[{**target, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/no-such-role"}])
    events.put_targets(Rule=rule, Targets=[target])  # the admin may pass it
    assert as_passer.list_targets_by_rule(Rule=rule)["Targets"] == [target]
    entries = [(e["Action"], e["Status"], e["Outcome"]) for e in audit(server) if e["Resource"] == f"{ARN}:rule/{rule}"]
    assert ("events:PutRule", 200, "allowed") in entries
    assert ("events:DeleteRule", 403, "denied") in entries
