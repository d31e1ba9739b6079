"""The `faas triggers` verbs: what makes a function run besides a call, listed, added and removed.

A trigger is an event source mapping (a queue that feeds the function, Lambda's CreateEventSourceMapping).
The verbs name a trigger's kind (`--queue` today) so that other kinds, such as a topic's subscriptions, join
`ls` as rows of their own kind and `add` as an option beside `--queue`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from faas.cli.common import client_for, client_options, command_group, table
from faas.cli.queues import resolve_url
from faas.client.queues import QueueClient
from faas.client.triggers import MappingClient
from faas.errors import ConfigError


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


def _mappings(args: argparse.Namespace) -> MappingClient:
    return client_for(args, client_class=MappingClient)


def cmd_ls(args: argparse.Namespace) -> int:
    rows = [["ID", "KIND", "SOURCE", "STATE", "BATCH", "WINDOW", "FILTERS", "LAST RESULT"]]
    rows += [mapping_row(mapping) for mapping in _mappings(args).list_mappings(args.function)]
    print(table(rows))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    settings = mapping_settings(args)  # bad options are refused before any request
    mapping = _mappings(args).create_mapping(args.function, queue_arn(args, args.queue), **settings)
    print(mapping["UUID"])
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    _mappings(args).delete_mapping(args.id)
    print(f"deleted trigger {args.id}")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    mapping = _mappings(args).update_mapping(args.id, Enabled=args.enabled)
    print(f"trigger {args.id}: {mapping['State']}")
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
    triggers = command_group(commands, "triggers", help="manage what runs a function: queues feeding it",
                             description="List, add and remove a function's triggers: event source mappings of "
                                         "SQS queues (Lambda's CreateEventSourceMapping; boto3's lambda client and "
                                         "'aws lambda' see the same ones).")

    ls = triggers.add_parser("ls", parents=[connection], help="list a function's triggers",
                             description="List a function's triggers: id, kind, source, state, batch size, "
                                         "batching window, number of filters and the last processing result.")
    ls.add_argument("function", help="function name or ARN")
    ls.set_defaults(run=cmd_ls)

    add = triggers.add_parser(
        "add", parents=[connection], help="feed a function from a queue and print the trigger's id",
        description="Create an event source mapping: the platform receives the queue's messages in batches and "
                    "invokes the function with Lambda's SQS event; a batch is deleted once the function succeeds "
                    "with it. The function's execution role must allow sqs:ReceiveMessage, sqs:DeleteMessage and "
                    "sqs:GetQueueAttributes on the queue.")
    add.add_argument("function", help="function name or ARN")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--queue", metavar="QUEUE", help="the queue: name, URL or ARN")
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
                          "repeat for several (a message matching any passes); the others are deleted")
    add.add_argument("--disabled", action="store_true", help="create it disabled (Enabled=false)")
    add.set_defaults(run=cmd_add)

    rm = triggers.add_parser("rm", parents=[connection], help="remove a trigger",
                             description="Delete an event source mapping; batches being processed finish.")
    rm.add_argument("id", help="the trigger's id (UUID), as 'faas triggers ls' shows it")
    rm.set_defaults(run=cmd_rm)

    for verb, enabled in (("enable", True), ("disable", False)):
        toggle = triggers.add_parser(verb, parents=[connection], help=f"{verb} a trigger",
                                     description=f"{verb.capitalize()} an event source mapping (Enabled="
                                                 f"{str(enabled).lower()}); messages wait in the queue while it is "
                                                 "disabled.")
        toggle.add_argument("id", help="the trigger's id (UUID)")
        toggle.set_defaults(run=cmd_enable, enabled=enabled)
