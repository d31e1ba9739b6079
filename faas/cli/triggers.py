"""The `faas triggers` verbs: what makes a function run besides a call, listed, added and removed.

A trigger is an event source mapping (a queue that feeds the function, Lambda's CreateEventSourceMapping) or
a topic's subscription of the function (SNS's Subscribe, protocol lambda). The verbs name a trigger's kind
(`--queue`, `--topic`); `ls` shows both kinds as rows, and a subscription's id is its ARN."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from faas.cli.common import add_verb, client_for, client_options, command_group, emit, table
from faas.cli.queues import resolve_url
from faas.cli.topics import resolve_arn
from faas.client.queues import QueueClient
from faas.client.topics import TopicClient
from faas.client.transport import ClientError
from faas.client.triggers import MappingClient
from faas.errors import ConfigError

SUBSCRIPTION = "arn:aws:sns:"  # how a subscription's id (its ARN) begins; a mapping's is a UUID
QUEUE_ONLY = ("batch_size", "window", "report_failures", "max_concurrency", "disabled")


def queue_arn(args: argparse.Namespace, queue: str) -> str:
    """A queue's ARN from its name or URL (an ARN is taken as it is)."""
    if queue.startswith("arn:"):
        return queue
    queues = client_for(args, client_class=QueueClient)
    return queues.attributes(resolve_url(queues, queue), ["QueueArn"])["QueueArn"]


def mapping_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The CreateEventSourceMapping fields the options ask for (the server checks the values)."""
    settings: dict[str, Any] = {"BatchSize": args.batch_size, "MaximumBatchingWindowInSeconds": args.window}
    if args.report_failures:
        settings["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if args.max_concurrency is not None:
        settings["ScalingConfig"] = {"MaximumConcurrency": args.max_concurrency}
    if args.filter:
        for pattern in args.filter:
            try:
                json.loads(pattern)
            except ValueError as exc:
                raise ConfigError(f"--filter {pattern!r} is not JSON: a filter is an event pattern such as "
                                  "'{\"body\": {\"kind\": [\"order\"]}}'") from exc
        settings["FilterCriteria"] = {"Filters": [{"Pattern": pattern} for pattern in args.filter]}
    if args.disabled:
        settings["Enabled"] = False
    return {key: value for key, value in settings.items() if value is not None}


def mapping_row(mapping: dict[str, Any]) -> list[str]:
    source = str(mapping.get("EventSourceArn", ""))
    filters = len((mapping.get("FilterCriteria") or {}).get("Filters") or [])
    return [str(mapping.get("UUID", "")), "queue", source.rsplit(":", 1)[-1], str(mapping.get("State", "")),
            str(mapping.get("BatchSize", "")), str(mapping.get("MaximumBatchingWindowInSeconds", "")),
            str(filters or ""), str(mapping.get("LastProcessingResult", ""))]


def subscription_row(subscription: dict[str, str]) -> list[str]:
    topic = subscription.get("TopicArn", "")
    return [subscription.get("SubscriptionArn", ""), "topic", topic.rsplit(":", 1)[-1], "Enabled", "", "", "", ""]


def subscribes(subscription: dict[str, str], function: str) -> bool:
    """Whether a subscription delivers to the function (named by name or ARN)."""
    name = function.rsplit(":function:", 1)[-1]
    return subscription.get("Protocol") == "lambda" and subscription.get("Endpoint", "").endswith(f":function:{name}")


def topic_policy(args: argparse.Namespace) -> dict[str, str]:
    """A topic trigger's subscription attributes: its one --filter is the FilterPolicy; the options that
    shape a queue's batches are refused."""
    given = [f"--{name.replace('_', '-')}" for name in QUEUE_ONLY if getattr(args, name) not in (None, False)]
    if given:
        raise ConfigError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --queue triggers only")
    if not args.filter:
        return {}
    if len(args.filter) > 1:
        raise ConfigError("a --topic trigger takes one --filter, its FilterPolicy")
    try:
        json.loads(args.filter[0])
    except ValueError as exc:
        raise ConfigError(f"--filter {args.filter[0]!r} is not JSON: a topic's filter is a FilterPolicy such as "
                          "'{\"kind\": [\"order\"]}'") from exc
    return {"FilterPolicy": args.filter[0]}


def statement_id(topic_arn: str) -> str:
    """The function-policy statement that lets a topic invoke the function (StatementId: 1-100 of [A-Za-z0-9-_.])."""
    return "sns-" + re.sub(r"[^A-Za-z0-9_.-]", "-", topic_arn.rsplit(":", 1)[-1])[:96]


def _mappings(args: argparse.Namespace) -> MappingClient:
    return client_for(args, client_class=MappingClient)


def _topics(args: argparse.Namespace) -> TopicClient:
    return client_for(args, client_class=TopicClient)


def cmd_ls(args: argparse.Namespace) -> int:
    mappings = _mappings(args).list_mappings(args.function)
    subscriptions = [found for found in _topics(args).subscriptions() if subscribes(found, args.function)]
    rows = [["ID", "KIND", "SOURCE", "STATE", "BATCH", "WINDOW", "FILTERS", "LAST RESULT"]]
    rows += [mapping_row(mapping) for mapping in mappings]
    rows += [subscription_row(found) for found in subscriptions]
    emit(args, {"EventSourceMappings": mappings, "Subscriptions": subscriptions}, table(rows))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    if args.topic is not None:
        return add_topic(args)
    settings = mapping_settings(args)  # bad options are refused before any request
    mapping = _mappings(args).create_mapping(args.function, queue_arn(args, args.queue), **settings)
    emit(args, mapping, mapping["UUID"])
    return 0


def add_topic(args: argparse.Namespace) -> int:
    """Subscribe the function to the topic, first letting the topic invoke it (AddPermission), as Lambda's
    console does when it adds an SNS trigger."""
    attributes = topic_policy(args)  # bad options are refused before any request
    topics = _topics(args)
    topic_arn = resolve_arn(topics, args.topic)
    _, _, _, region, account, _ = topic_arn.split(":", 5)
    function = args.function.rsplit(":function:", 1)[-1]
    try:
        client_for(args).add_permission(function, statement_id=statement_id(topic_arn),
                                        action="lambda:InvokeFunction", principal="sns.amazonaws.com",
                                        source_arn=topic_arn)
    except ClientError as exc:
        if exc.code != "ResourceConflictException":  # granted already, by an earlier add
            raise
    subscription = topics.subscribe(topic_arn, "lambda", f"arn:aws:lambda:{region}:{account}:function:{function}",
                                    attributes)
    emit(args, {"SubscriptionArn": subscription}, subscription)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if args.id.startswith(SUBSCRIPTION):
        _topics(args).unsubscribe(args.id)
    else:
        _mappings(args).delete_mapping(args.id)
    emit(args, {"Id": args.id, "Deleted": True}, f"deleted trigger {args.id}")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    if args.id.startswith(SUBSCRIPTION):
        raise ConfigError("a topic trigger is on while it exists: remove it with 'faas triggers rm'")
    mapping = _mappings(args).update_mapping(args.id, Enabled=args.enabled)
    emit(args, mapping, f"trigger {args.id}: {mapping['State']}")
    return 0


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def add_trigger_commands(commands: argparse._SubParsersAction) -> None:
    """Register `faas triggers ls|add|rm|enable|disable` on the `faas` parser."""
    connection = client_options()
    triggers = command_group(commands, "triggers", help="manage what runs a function: queues and topics",
                             description="List, add and remove a function's triggers: event source mappings of "
                                         "SQS queues (Lambda's CreateEventSourceMapping) and SNS topic "
                                         "subscriptions (boto3's lambda and sns clients and the AWS CLI see the "
                                         "same ones).")

    ls = add_verb(triggers, "ls", parents=[connection], help="list a function's triggers",
                  description="List a function's triggers: id, kind, source, state, batch size, "
                              "batching window, number of filters and the last processing result.")
    ls.add_argument("function", help="function name or ARN")
    ls.set_defaults(run=cmd_ls)

    add = triggers.add_parser(
        "add", parents=[connection], help="feed a function from a queue or a topic and print the trigger's id",
        description="--queue: create an event source mapping: the platform receives the queue's messages in "
                    "batches and invokes the function with Lambda's SQS event; a batch is deleted once the "
                    "function succeeds with it. The function's execution role must allow sqs:ReceiveMessage, "
                    "sqs:DeleteMessage and sqs:GetQueueAttributes on the queue. --topic: let the topic invoke the "
                    "function (AddPermission for sns.amazonaws.com with the topic as SourceArn) and subscribe it: "
                    "each message is an asynchronous invocation with Lambda's SNS event.")
    add.add_argument("function", help="function name or ARN")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--queue", metavar="QUEUE", help="the queue: name, URL or ARN")
    source.add_argument("--topic", metavar="TOPIC", help="the topic: name or ARN (a standard topic)")
    add.add_argument("--batch-size", type=_count, metavar="N",
                     help="BatchSize: at most N messages per invocation (1-10000, 10 by default; at most 10 for a "
                          "FIFO queue; over 10 needs --window)")
    add.add_argument("--window", type=_count, metavar="S",
                     help="MaximumBatchingWindowInSeconds: wait up to S seconds to fill a batch (0-300, default 0: "
                          "invoke with what is there)")
    add.add_argument("--report-failures", action="store_true",
                     help="FunctionResponseTypes=ReportBatchItemFailures: the function answers "
                          "{\"batchItemFailures\": [{\"itemIdentifier\": <messageId>}]} and only those come back")
    add.add_argument("--max-concurrency", type=_count, metavar="N",
                     help="ScalingConfig.MaximumConcurrency: at most N batches at once (2-1000)")
    add.add_argument("--filter", action="append", metavar="PATTERN",
                     help="an event pattern (JSON) a message must match, e.g. '{\"body\": {\"kind\": [\"order\"]}}'; "
                          "repeat for several (a message matching any passes); the others are deleted. With "
                          "--topic: one FilterPolicy on the message attributes, e.g. '{\"kind\": [\"order\"]}'")
    add.add_argument("--disabled", action="store_true", help="create it disabled (Enabled=false)")
    add.set_defaults(run=cmd_add)

    rm = add_verb(triggers, "rm", parents=[connection], help="remove a trigger",
                  description="Delete an event source mapping (batches being processed finish) or "
                              "unsubscribe a topic subscription (the function policy's grant stays).")
    rm.add_argument("id", help="the trigger's id (a mapping's UUID or a subscription's ARN), as 'faas triggers "
                               "ls' shows it")
    rm.set_defaults(run=cmd_rm)

    for verb, enabled in (("enable", True), ("disable", False)):
        toggle = triggers.add_parser(verb, parents=[connection], help=f"{verb} a trigger",
                                     description=f"{verb.capitalize()} an event source mapping (Enabled="
                                                 f"{str(enabled).lower()}); messages wait in the queue while it is "
                                                 "disabled.")
        toggle.add_argument("id", help="the trigger's id (UUID)")
        toggle.set_defaults(run=cmd_enable, enabled=enabled)
