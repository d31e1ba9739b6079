"""The `faas rules` verbs (create, ls, rm, targets) and `faas events put`, over EventBridge's API on the
platform's endpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from faas.cli.async_events import add_events_group
from faas.cli.common import add_verb, client_for, client_options, command_group, emit, key_value_pairs, table
from faas.client.events import EventsClient
from faas.errors import ConfigError


def _events(args: argparse.Namespace) -> EventsClient:
    return client_for(args, client_class=EventsClient)


def _json_text(text: str, option: str) -> str:
    """A JSON option's text, read from a file with @PATH; checked here so a typo fails before any request."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {text[1:]}: {exc.strerror or exc}") from exc
    try:
        json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{option} is not JSON: {exc}") from exc
    return text


def target_of(args: argparse.Namespace) -> dict[str, Any]:
    """The target `faas rules targets --add` describes (the server judges the ARN and the paths)."""
    target: dict[str, Any] = {"Id": args.id or args.add.rsplit(":", 1)[-1][:64], "Arn": args.add}
    if args.role_arn:
        target["RoleArn"] = args.role_arn
    shapes = [name for name in ("input", "input_path", "template") if getattr(args, name) is not None]
    if len(shapes) > 1:
        raise ConfigError("--input, --input-path and --template are alternatives: give one")
    if args.path and args.template is None:
        raise ConfigError("--path goes with --template")
    if args.input is not None:
        target["Input"] = _json_text(args.input, "--input")
    if args.input_path is not None:
        target["InputPath"] = args.input_path
    if args.template is not None:
        target["InputTransformer"] = {"InputPathsMap": key_value_pairs(args.path or [], "--path", "total=$.detail.total"),
                                      "InputTemplate": args.template}
    return target


def cmd_create(args: argparse.Namespace) -> int:
    pattern = _json_text(args.pattern, "--pattern") if args.pattern is not None else None
    arn = _events(args).put_rule(args.name, pattern, schedule=args.schedule, bus=args.bus,
                                 description=args.description, enabled=not args.disabled)
    emit(args, {"RuleArn": arn}, arn)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    client = _events(args)
    rules = [{**rule, "Targets": len(client.targets(rule["Name"], args.bus))}
             for rule in client.rules(args.bus, args.prefix)]
    rows = [["NAME", "STATE", "TARGETS", "PATTERN OR SCHEDULE"]]
    rows += [[rule["Name"], rule["State"], str(rule["Targets"]),
              rule.get("EventPattern") or rule.get("ScheduleExpression", "")] for rule in rules]
    emit(args, rules, table(rows))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    _events(args).delete_rule(args.name, args.bus)
    emit(args, {"Name": args.name, "Deleted": True}, f"deleted rule {args.name} and its targets")
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    client = _events(args)
    if args.add:
        client.put_target(args.name, args.bus, target_of(args))
    if args.remove:
        client.remove_target(args.name, args.bus, args.remove)
    targets = client.targets(args.name, args.bus)
    rows = [["ID", "ARN", "ROLE", "INPUT"]]
    for target in targets:
        shaped = next((json.dumps({key: target[key]}) for key in ("Input", "InputPath", "InputTransformer")
                       if key in target), "the event")
        rows.append([target["Id"], target["Arn"], target.get("RoleArn", ""), shaped])
    emit(args, targets, table(rows))
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    entry = {"Source": args.source, "DetailType": args.detail_type, "Detail": _json_text(args.detail, "--detail"),
             "EventBusName": args.bus, "Resources": args.resource or None}
    event_id = _events(args).put_event({k: v for k, v in entry.items() if v is not None})
    emit(args, {"EventId": event_id}, event_id)
    return 0


def add_event_commands(commands: argparse._SubParsersAction) -> None:
    """Register `faas rules create|ls|rm|targets` and `faas events put` on the `faas` parser."""
    connection = client_options()
    rules = command_group(commands, "rules", help="manage EventBridge rules and their targets",
                          description="Create, list and delete event bus rules and their targets, through the "
                                      "EventBridge API the platform serves on its endpoint (boto3's events client "
                                      "and 'aws events' work on the same rules).")
    bus = argparse.ArgumentParser(add_help=False)
    bus.add_argument("--bus", metavar="NAME", help="the event bus (name or ARN; default: the default bus)")

    create = rules.add_parser("create", parents=[connection, bus], help="create or replace a rule; print its ARN",
                              description="Create a rule (PutRule) matching an event pattern, or replace the rule "
                                          "of that name (its targets stay).")
    create.add_argument("name", help="rule name: up to 64 letters, digits, '.', '-' and '_'")
    matching = create.add_mutually_exclusive_group(required=True)
    matching.add_argument("--pattern", metavar="JSON",
                          help='the EventPattern, e.g. \'{"source": ["shop.orders"]}\', or @FILE')
    matching.add_argument("--schedule", metavar="EXPR",
                          help="a ScheduleExpression instead: 'rate(5 minutes)' or 'cron(0 2 * * ? *)' (UTC, default "
                               "bus); its targets get a Scheduled Event at each due time")
    create.add_argument("--description", metavar="TEXT")
    create.add_argument("--disabled", action="store_true", help="create it disabled (State=DISABLED)")
    create.set_defaults(run=cmd_create)

    ls = add_verb(rules, "ls", parents=[connection, bus], help="list rules",
                  description="List a bus's rules: name, state, number of targets and pattern.")
    ls.add_argument("--prefix", metavar="P", help="only rules whose name starts with P")
    ls.set_defaults(run=cmd_ls)

    rm = add_verb(rules, "rm", parents=[connection, bus], help="delete a rule and its targets",
                  description="Delete a rule with its targets (DeleteRule with Force).")
    rm.add_argument("name")
    rm.set_defaults(run=cmd_rm)

    targets = rules.add_parser(
        "targets", parents=[connection, bus], help="list a rule's targets, adding or removing one first",
        description="List a rule's targets (ListTargetsByRule); with --add, first add or replace one "
                    "(PutTargets), with --remove, first remove one (RemoveTargets). A function target needs its "
                    "function policy to allow events.amazonaws.com with the rule's ARN ('faas permissions add "
                    "FUNCTION --statement-id S --principal events.amazonaws.com --source-arn RULE_ARN'); a queue "
                    "target needs --role-arn, a role allowed sqs:SendMessage on it.")
    targets.add_argument("name", help="the rule")
    targets.add_argument("--add", metavar="ARN", help="a function or queue ARN to deliver matching events to")
    targets.add_argument("--id", metavar="ID", help="the target's Id (default: the last part of its ARN)")
    targets.add_argument("--role-arn", metavar="ARN", help="the role the delivery is made as (queues)")
    targets.add_argument("--input", metavar="JSON", help="send this fixed JSON instead of the event")
    targets.add_argument("--input-path", metavar="PATH", help="send the part of the event at PATH, e.g. $.detail")
    targets.add_argument("--template", metavar="TEXT",
                         help="an InputTransformer template with <name> placeholders, filled from --path")
    targets.add_argument("--path", action="append", metavar="NAME=PATH",
                         help="a placeholder of --template and its JSONPath, e.g. total=$.detail.total; repeat")
    targets.add_argument("--remove", metavar="ID", help="the Id of a target to remove")
    targets.set_defaults(run=cmd_targets)

    events = add_events_group(commands)  # faas.cli.async_events: also `faas events FUNCTION`
    put = events.add_parser("put", parents=[connection, bus], help="put one event and print its id",
                            description="Put one event (PutEvents) and print its EventId; an event the bus "
                                        "refuses fails with EventBridge's ErrorCode and ErrorMessage.")
    put.add_argument("--source", required=True, metavar="TEXT", help="the event's source, e.g. shop.orders")
    put.add_argument("--detail-type", required=True, metavar="TEXT", help="its detail-type, e.g. 'Order Placed'")
    put.add_argument("--detail", required=True, metavar="JSON", help="its detail: a JSON object, or @FILE")
    put.add_argument("--resource", action="append", metavar="ARN", help="a resource ARN; repeat for several")
    put.set_defaults(run=cmd_put)
