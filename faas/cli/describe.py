"""`faas describe NAME`: one function's configuration, URL, triggers, concurrency and resource policy, gathered
from the platform's APIs in one view (as text, or one JSON document with -o json)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from faas import settings as settings_module
from faas.cli.common import client_for, client_options, emit
from faas.cli.functions import current_variables, path_style_url
from faas.client.api import Client
from faas.client.events import EventsClient
from faas.client.schedules import ScheduleClient
from faas.client.topics import TopicClient
from faas.client.transport import ClientError
from faas.client.triggers import MappingClient

# GetFunctionConfiguration's fields shown, in this order, with their labels.
CONFIGURATION_LINES = (("Runtime", "Runtime"), ("Handler", "Handler"), ("MemorySize", "Memory (MB)"),
                       ("Timeout", "Timeout (s)"), ("Role", "Role"), ("State", "State"), ("CodeSize", "Code size"),
                       ("CodeSha256", "Code SHA-256"), ("LastModified", "Last modified"),
                       ("Description", "Description"), ("RevisionId", "Revision"))


def _section(fetch: Callable[[], Any], missing: Any = None) -> Any:
    """A section's content; `missing` when the platform has none (404), or {"Error": ...} when the caller may
    not read it, so the other sections are still shown."""
    try:
        return fetch()
    except ClientError as exc:
        if exc.code == "ResourceNotFoundException":
            return missing
        return {"Error": f"{exc.code}: {exc.message}"}


def _targets_function(arn: str | None, function_arn: str) -> bool:
    """Whether a target ARN is the function's, unqualified or with a version or alias."""
    return arn is not None and (arn == function_arn or arn.startswith(function_arn + ":"))


def _rules(events: EventsClient, function_arn: str) -> list[dict[str, Any]]:
    """The default bus's rules with a target on the function (a ListTargetsByRule a rule: EventBridge has no
    lookup by target here)."""
    return [rule for rule in events.rules(None, None)
            if any(_targets_function(target.get("Arn"), function_arn) for target in events.targets(rule["Name"], None))]


def triggers(args: argparse.Namespace, config: settings_module.Settings, name: str,
             function_arn: str) -> dict[str, Any]:
    """What invokes the function: event source mappings, SNS subscriptions, EventBridge rules and schedules."""
    def client(kind: type) -> Any:
        return client_for(args, config, client_class=kind)
    return {
        "EventSourceMappings": _section(lambda: client(MappingClient).list_mappings(name), []),
        "SnsSubscriptions": _section(lambda: [
            subscription for subscription in client(TopicClient).subscriptions()
            if subscription.get("Protocol") == "lambda" and _targets_function(subscription.get("Endpoint"), function_arn)
        ], []),
        "Rules": _section(lambda: _rules(client(EventsClient), function_arn), []),
        "Schedules": _section(lambda: [
            schedule for schedule in client(ScheduleClient).list_schedules()
            if _targets_function((schedule.get("Target") or {}).get("Arn"), function_arn)
        ], []),
    }


def describe(args: argparse.Namespace) -> dict[str, Any]:
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    client: Client = client_for(args, config)
    function = client.get_function(args.name)  # a missing function is the verb's error, not a section's
    configuration = function["Configuration"]
    name = configuration["FunctionName"]
    url = _section(lambda: client.get_url(name))
    if url is not None and "FunctionUrl" in url:
        url = {**url, "PathStyleUrl": path_style_url(client, url["FunctionUrl"])}
    running = _section(lambda: sum(1 for env in client.environments(name) if env.get("State") == "busy"))
    return {
        "Configuration": configuration,
        "Tags": function.get("Tags") or {},
        "Url": url,
        "Triggers": triggers(args, config, name, configuration["FunctionArn"]),
        "Concurrency": {
            "ReservedConcurrentExecutions": (function.get("Concurrency") or {}).get("ReservedConcurrentExecutions"),
            "RunningOnThisNode": running,
        },
        "Policy": _section(lambda: client.get_policy(name).get("Statement") or [], []),
    }


def _error_or(value: Any) -> str | None:
    return value["Error"] if isinstance(value, dict) and "Error" in value else None


def _trigger_lines(triggers: dict[str, Any]) -> list[str]:
    lines = []
    for kind, items in triggers.items():
        if _error_or(items):
            lines.append(f"{kind}: not readable ({items['Error']})")
            continue
        for item in items:
            if kind == "EventSourceMappings":
                lines.append(f"mapping {item.get('UUID')}: {item.get('EventSourceArn')} ({item.get('State')}, "
                             f"batch size {item.get('BatchSize')})")
            elif kind == "SnsSubscriptions":
                lines.append(f"SNS topic {item.get('TopicArn')} ({item.get('SubscriptionArn')})")
            elif kind == "Rules":
                what = item.get("ScheduleExpression") or item.get("EventPattern")
                lines.append(f"EventBridge rule {item.get('Name')} ({item.get('State')}): {what}")
            else:
                lines.append(f"schedule {item.get('Name')} (group {item.get('GroupName')}, {item.get('State')})")
    return lines or ["none"]


def _policy_lines(statements: Any) -> list[str]:
    if _error_or(statements):
        return [f"not readable ({statements['Error']})"]
    lines = []
    for statement in statements:
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            principal = ", ".join(str(value) for value in principal.values())
        condition = f" when {statement['Condition']}" if statement.get("Condition") else ""
        lines.append(f"{statement.get('Sid')}: {statement.get('Effect')} {statement.get('Action')} to "
                     f"{principal}{condition}")
    return lines or ["none (only identity policies allow calls)"]


def text(document: dict[str, Any]) -> str:
    configuration = document["Configuration"]
    lines = [configuration["FunctionName"], f"  {'ARN':<14} {configuration.get('FunctionArn')}"]
    lines += [f"  {label:<14} {configuration[field]}" for field, label in CONFIGURATION_LINES
              if configuration.get(field) not in (None, "")]
    variables = current_variables(configuration)
    lines.append(f"Environment ({len(variables)})")
    lines += [f"  {key}={value}" for key, value in sorted(variables.items())] or ["  none (or not readable)"]
    url = document["Url"]
    lines.append("URL")
    if url is None:
        lines.append("  none")
    elif _error_or(url):
        lines.append(f"  not readable ({url['Error']})")
    else:
        lines += [f"  {url['FunctionUrl']} (auth type {url['AuthType']})", f"  path-style: {url['PathStyleUrl']}"]
    lines.append("Triggers")
    lines += [f"  {line}" for line in _trigger_lines(document["Triggers"])]
    concurrency = document["Concurrency"]
    reserved = concurrency["ReservedConcurrentExecutions"]
    running = concurrency["RunningOnThisNode"]
    lines.append("Concurrency")
    lines.append(f"  reserved: {'none (draws on the unreserved pool)' if reserved is None else reserved}")
    lines.append(f"  running on this node: {_error_or(running) or running}")
    lines.append("Policy")
    lines += [f"  {line}" for line in _policy_lines(document["Policy"])]
    if document["Tags"]:
        lines.append("Tags")
        lines += [f"  {key}={value}" for key, value in sorted(document["Tags"].items())]
    return "\n".join(lines)


def cmd_describe(args: argparse.Namespace) -> int:
    document = describe(args)
    emit(args, document, lambda: print(text(document)))
    return 0


def add_describe_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "describe", parents=[client_options()], help="show everything about a function",
        description="Show a function's configuration (runtime, handler, memory, timeout, role, state, code size "
                    "and SHA-256, last modified, environment variables), its URL and auth type, its triggers "
                    "(event source mappings, SNS subscriptions, EventBridge rules of the default bus and "
                    "schedules that target it), its concurrency (reserved, and running on the node that answers) "
                    "and its resource policy. A section the caller may not read shows why instead. With -o json, "
                    "one document: Configuration, Tags, Url, Triggers, Concurrency, Policy.")
    parser.add_argument("name", help="function name or ARN")
    parser.set_defaults(run=cmd_describe)
