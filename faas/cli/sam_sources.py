"""What `faas deploy -f` makes of a SAM template besides functions: its AWS::SQS::Queue and
AWS::SNS::Topic resources, and each function's SQS events (event source mappings), Schedule and
EventBridgeRule events (EventBridge rules), ScheduleV2 events (EventBridge Scheduler schedules), SNS
events (subscriptions), changing only what differs from what is deployed (HttpApi and Api events are
faas.cli.sam_apis's)."""

from __future__ import annotations

import json
import re
from typing import Any

from faas.client.api import Client
from faas.client.events import EventsClient
from faas.client.queues import QueueClient
from faas.client.schedules import ScheduleClient
from faas.client.topics import TopicClient
from faas.client.transport import ClientError
from faas.client.triggers import MappingClient
from faas.sam.template import EventSpec, FunctionSpec, QueueSpec, TopicSpec, implicit_role_name

MAX_RULE_NAME = 64
STACK_TAG = "faas:stack"  # the tag naming the stack that deployed a resource
ACTIVE_MAPPING_STATES = frozenset({"Creating", "Enabling", "Enabled", "Updating"})


def deploy_queue(queues: QueueClient, queue: QueueSpec, stack_name: str) -> str:
    """Create the queue (tagged with the stack, what --prune finds it by), or set the attributes that differ;
    returns created/updated/unchanged."""
    try:
        url = queues.queue_url(queue.name)
    except ClientError as exc:
        if "NonExistentQueue" not in exc.code and "QueueDoesNotExist" not in exc.code:
            raise
        queues.create_queue(queue.name, queue.attributes, {STACK_TAG: stack_name})
        return "created"
    current = queues.attributes(url, list(queue.attributes)) if queue.attributes else {}
    changed = {key: value for key, value in queue.attributes.items() if current.get(key) != value}
    if not changed:
        return "unchanged"
    queues.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": changed})
    return "updated"


def _mapping_changes(event: EventSpec, current: dict[str, Any]) -> dict[str, Any]:
    settings = {key: value for key, value in event.properties.items() if key != "Queue"}
    changes = {key: value for key, value in settings.items()
               if key != "Enabled" and current.get(key) != value}
    enabled = bool(settings.get("Enabled", True))
    if enabled != (current.get("State") in ACTIVE_MAPPING_STATES):
        changes["Enabled"] = enabled
    return changes


def deploy_sqs_events(mappings: MappingClient, function: FunctionSpec) -> list[str]:
    """The function's mappings made to match its SQS events (a mapping no event names is deleted: the
    function is the stack's, and so are its mappings)."""
    events = [event for event in function.events if event.kind == "SQS"]
    existing = {mapping["EventSourceArn"]: mapping for mapping in mappings.list_mappings(function.name)}
    lines = []
    for event in events:
        arn = str(event.properties["Queue"])
        current = existing.pop(arn, None)
        if current is None:
            mappings.create_mapping(function.name, arn, **{k: v for k, v in event.properties.items() if k != "Queue"})
            verb = "created"
        elif changes := _mapping_changes(event, current):
            mappings.update_mapping(current["UUID"], **changes)
            verb = "updated"
        else:
            verb = "unchanged"
        lines.append(f"{verb} SQS event {event.event_id} ({arn.rsplit(':', 1)[-1]})")
    for arn, mapping in existing.items():
        mappings.delete_mapping(mapping["UUID"])
        lines.append(f"removed the mapping from {arn.rsplit(':', 1)[-1]} (no longer an event of the function)")
    return lines


RULE_EVENTS = ("Schedule", "EventBridgeRule")


def rule_name(function: FunctionSpec, event: EventSpec) -> str:
    given = event.properties.get("Name" if event.kind == "Schedule" else "RuleName")
    return str(given or f"{function.name}-{event.event_id}"[:MAX_RULE_NAME])


def _same_rule(current: dict[str, Any] | None, schedule: str | None, pattern: str | None, enabled: bool,
               description: str | None) -> bool:
    if current is None:
        return False
    current_pattern = current.get("EventPattern")
    return current.get("ScheduleExpression") == schedule \
        and (json.loads(current_pattern) if current_pattern else None) == (json.loads(pattern) if pattern else None) \
        and current.get("State") == ("ENABLED" if enabled else "DISABLED") \
        and (current.get("Description") or None) == description


def deploy_rule_events(events_client: EventsClient, client: Client, function: FunctionSpec,
                       function_arn: str) -> list[str]:
    """An EventBridge rule per Schedule event (on its schedule) and EventBridgeRule event (on its pattern and
    bus), targeting the function, which lets the rule invoke it (as SAM makes them)."""
    lines = []
    for event in (event for event in function.events if event.kind in RULE_EVENTS):
        name = rule_name(function, event)
        properties = event.properties
        bus = properties.get("EventBusName")
        schedule = str(properties["Schedule"]) if event.kind == "Schedule" else None
        pattern = json.dumps(properties["Pattern"]) if event.kind == "EventBridgeRule" else None
        enabled = bool(properties.get("Enabled", True)) and properties.get("State") != "DISABLED"
        description = properties.get("Description")
        target: dict[str, Any] = {"Id": f"{function.logical_id}{event.event_id}"[:MAX_RULE_NAME], "Arn": function_arn}
        for key in ("Input", "InputPath"):
            if properties.get(key) is not None:
                target[key] = str(properties[key])
        current = next((rule for rule in events_client.rules(bus, name) if rule.get("Name") == name), None)
        same_target = current is not None and [{k: t.get(k) for k in target if t.get(k) is not None}
                                               for t in events_client.targets(name, bus)] == [target]
        described = f"{event.kind} event {event.event_id} (rule {name})"
        if _same_rule(current, schedule, pattern, enabled, description) and same_target:
            lines.append(f"unchanged {described}")
            continue
        rule_arn = events_client.put_rule(name, pattern, schedule=schedule, bus=bus, description=description,
                                          enabled=enabled)
        try:
            client.add_permission(function.name, statement_id=f"{name}-invoke"[:100], action="lambda:InvokeFunction",
                                  principal="events.amazonaws.com", source_arn=rule_arn)
        except ClientError as exc:
            if exc.code != "ResourceConflictException":  # granted by an earlier deploy
                raise
        events_client.put_target(name, bus, target)
        lines.append(f"{'created' if current is None else 'updated'} {described}")
    return lines + _remove_dropped_rules(events_client, client, function, function_arn)


def _remove_dropped_rules(events_client: EventsClient, client: Client, function: FunctionSpec,
                          function_arn: str) -> list[str]:
    """Delete the rules an earlier deploy made for events the function no longer has: those on the
    default bus named <function>-... whose target is the function under a target id of its."""
    kept = {rule_name(function, event) for event in function.events if event.kind in RULE_EVENTS}
    lines = []
    for rule in events_client.rules(None, f"{function.name}-"):
        name = str(rule.get("Name"))
        if name in kept or not any(target.get("Arn") == function_arn
                                   and str(target.get("Id", "")).startswith(function.logical_id)
                                   for target in events_client.targets(name, None)):
            continue
        events_client.delete_rule(name, None)
        try:
            client.remove_permission(function.name, f"{name}-invoke"[:100])
        except ClientError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
        lines.append(f"removed rule {name} (no longer an event of the function)")
    return lines


# What SAM's implicit role gets for SQS events (AWS's managed policy AWSLambdaSQSQueueExecutionRole), here
# limited to the function's queues.
SQS_POLLER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                      "sqs:ChangeMessageVisibility"]
IMPLICIT_POLICY = "SQSQueueExecution"


def implicit_role(client: Client, function: FunctionSpec) -> str | None:
    """For a function without a Role, what SAM makes: a role of its own (<function>-role) allowed to consume
    the queues of its SQS events. None when it has none: then it runs under the default role."""
    queues = sorted({str(event.properties["Queue"]) for event in function.events if event.kind == "SQS"})
    if function.role is not None or not queues:
        return None
    return _role(client, implicit_role_name(function.name), f"made by faas deploy -f for {function.name}", IMPLICIT_POLICY,
                 {"Version": "2012-10-17", "Statement": [
                     {"Effect": "Allow", "Action": SQS_POLLER_ACTIONS, "Resource": queues}]})


def _role(client: Client, name: str, description: str, policy_name: str, document: dict[str, Any]) -> str:
    """The role `name` (created when missing) with the inline policy `document`; its ARN. `document` is
    written as the server keeps it (lists of actions and resources), so an unchanged one compares equal."""
    name = name[:MAX_RULE_NAME]
    try:
        arn = str(client.create_role(name, description)["Arn"])
    except ClientError as exc:
        if exc.code not in ("EntityAlreadyExists", "ResourceConflictException"):
            raise
        arn = next(str(role["Arn"]) for role in client.list_roles() if role["Name"] == name)
    if client.list_policies("role", name).get(policy_name) != document:  # a redeploy rewrites nothing
        client.put_policy("role", name, policy_name, document)
    return arn


# What a schedule's redeploy compares (with its target): GetSchedule fills in the others' defaults.
COMPARED_SCHEDULE_FIELDS = ("ScheduleExpression", "ScheduleExpressionTimezone", "Description", "State")


def deploy_scheduler_events(schedules: ScheduleClient, client: Client, function: FunctionSpec,
                            function_arn: str) -> list[str]:
    """An EventBridge Scheduler schedule per ScheduleV2 event, invoking the function under RoleArn or, as
    SAM makes one, a role of its own (<function>-scheduler) allowed to invoke the function."""
    lines = []
    for event in (event for event in function.events if event.kind == "ScheduleV2"):
        properties = event.properties
        name = str(properties.get("Name") or f"{function.name}-{event.event_id}"[:MAX_RULE_NAME])
        group = properties.get("GroupName")
        role = properties.get("RoleArn") or _role(
            client, f"{function.name}-scheduler", f"made by faas deploy -f for {function.name}'s schedules",
            "InvokeFunction", {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [function_arn]}]})
        target = {"Arn": function_arn, "RoleArn": str(role)}
        if properties.get("Input") is not None:
            target["Input"] = str(properties["Input"])
        settings = {"GroupName": group, "ScheduleExpression": str(properties["ScheduleExpression"]),
                    "ScheduleExpressionTimezone": properties.get("ScheduleExpressionTimezone"),
                    "Description": properties.get("Description"), "State": properties.get("State") or "ENABLED",
                    "Target": target, "FlexibleTimeWindow": {"Mode": "OFF"}}
        try:
            current: dict[str, Any] | None = schedules.get_schedule(name, group)
        except ClientError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            current = None
        described = f"ScheduleV2 event {event.event_id} (schedule {name})"
        if current is None:
            schedules.create_schedule(name, settings)
            lines.append(f"created {described}")
            continue
        current_target = {key: (current.get("Target") or {}).get(key) for key in target}
        same = current_target == target and all(current.get(key) == settings[key] for key in COMPARED_SCHEDULE_FIELDS
                                                if settings[key] is not None)
        if not same:
            schedules.update_schedule(name, settings)
        lines.append(f"{'unchanged' if same else 'updated'} {described}")
    kept = {str(event.properties.get("Name") or f"{function.name}-{event.event_id}"[:MAX_RULE_NAME])
            for event in function.events if event.kind == "ScheduleV2"}
    for summary in schedules.list_schedules(None, f"{function.name}-"):  # the default group's, named by default
        if summary["Name"] not in kept and (summary.get("Target") or {}).get("Arn") == function_arn:
            schedules.delete_schedule(summary["Name"], summary.get("GroupName"))
            lines.append(f"removed schedule {summary['Name']} (no longer an event of the function)")
    return lines


def deploy_topic(topics: TopicClient, topic: TopicSpec, arn: str, stack_name: str) -> str:
    """Create the topic (tagged with the stack), or set the attributes that differ; returns
    created/updated/unchanged."""
    if arn not in topics.list_topics():
        topics.create_topic(topic.name, topic.attributes, {STACK_TAG: stack_name})
        return "created"
    current = topics.topic_attributes(arn)
    changed = {key: value for key, value in topic.attributes.items() if current.get(key) != value}
    for key, value in changed.items():
        topics.set_topic_attribute(arn, key, value)
    return "updated" if changed else "unchanged"


def _subscription_attributes(event: EventSpec) -> dict[str, str]:
    attributes = {}
    if event.properties.get("FilterPolicy") is not None:
        policy = event.properties["FilterPolicy"]
        attributes["FilterPolicy"] = policy if isinstance(policy, str) else json.dumps(policy, separators=(",", ":"))
    if event.properties.get("FilterPolicyScope") is not None:
        attributes["FilterPolicyScope"] = str(event.properties["FilterPolicyScope"])
    return attributes


def _same_attribute(current: str | None, desired: str) -> bool:
    try:  # a filter policy comes back as the server keeps it: compare what it means
        return current is not None and json.loads(current) == json.loads(desired)
    except ValueError:
        return current == desired


def deploy_sns_events(topics: TopicClient, client: Client, function: FunctionSpec, function_arn: str) -> list[str]:
    """A subscription of the function per SNS event, after the permission that lets the topic invoke it."""
    lines = []
    for event in (event for event in function.events if event.kind == "SNS"):
        topic_arn = str(event.properties["Topic"])
        attributes = _subscription_attributes(event)
        topic = topic_arn.rsplit(":", 1)[-1]
        current = next((found for found in topics.subscriptions(topic_arn)
                        if found.get("Protocol") == "lambda" and found.get("Endpoint") == function_arn), None)
        if current is None:
            try:
                client.add_permission(function.name, statement_id="sns-" + re.sub(r"[^A-Za-z0-9_.-]", "-", topic)[:96],
                                      action="lambda:InvokeFunction", principal="sns.amazonaws.com",
                                      source_arn=topic_arn)
            except ClientError as exc:
                if exc.code != "ResourceConflictException":  # granted by an earlier deploy
                    raise
            topics.subscribe(topic_arn, "lambda", function_arn, attributes)
            lines.append(f"created SNS event {event.event_id} ({topic})")
            continue
        now = topics.subscription_attributes(current["SubscriptionArn"])
        changed = {key: value for key, value in attributes.items() if not _same_attribute(now.get(key), value)}
        for key, value in changed.items():
            topics.set_subscription_attribute(current["SubscriptionArn"], key, value)
        lines.append(f"{'updated' if changed else 'unchanged'} SNS event {event.event_id} ({topic})")
    kept = {str(event.properties["Topic"]) for event in function.events if event.kind == "SNS"}
    for found in topics.subscriptions():
        if found.get("Protocol") == "lambda" and found.get("Endpoint") == function_arn \
                and found.get("TopicArn") not in kept:
            topics.unsubscribe(found["SubscriptionArn"])
            lines.append(f"removed the subscription to {str(found.get('TopicArn')).rsplit(':', 1)[-1]} "
                         f"(no longer an event of the function)")
    return lines
