"""The `faas schedules` verbs: create, ls, rm, enable and disable, over EventBridge Scheduler's API on the
platform's endpoint."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from faas.cli.common import add_verb, client_for, client_options, command_group, emit, table
from faas.client.schedules import ScheduleClient
from faas.errors import ConfigError

# What UpdateSchedule takes back from GetSchedule: it replaces every setting, so enable/disable send them all.
UPDATABLE = ("GroupName", "ScheduleExpression", "StartDate", "EndDate", "Description", "ScheduleExpressionTimezone",
             "State", "Target", "FlexibleTimeWindow", "ActionAfterCompletion")


def _instant(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r} is not an ISO-8601 time such as 2027-01-01T00:00:00Z") from exc
    return (instant if instant.tzinfo else instant.replace(tzinfo=dt.timezone.utc)).timestamp()


def create_settings(args: argparse.Namespace) -> dict[str, Any]:
    """CreateSchedule's body from the options (the server judges the values)."""
    if args.input is not None:
        try:
            json.loads(args.input)
        except ValueError as exc:
            raise ConfigError(f"--input is not JSON: {exc}") from exc
    target: dict[str, Any] = {"Arn": args.target, "RoleArn": args.role}
    if args.input is not None:
        target["Input"] = args.input
    if args.retries is not None:
        target["RetryPolicy"] = {"MaximumRetryAttempts": args.retries}
    if args.dead_letter:
        target["DeadLetterConfig"] = {"Arn": args.dead_letter}
    window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": args.flexible_window} if args.flexible_window \
        else {"Mode": "OFF"}
    return {"GroupName": args.group, "ScheduleExpression": args.expression,
            "ScheduleExpressionTimezone": args.timezone, "Description": args.description,
            "State": "DISABLED" if args.disabled else "ENABLED", "Target": target, "FlexibleTimeWindow": window,
            "ActionAfterCompletion": "DELETE" if args.delete_after_completion else None,
            "StartDate": _instant(args.start, "--start"), "EndDate": _instant(args.end, "--end")}


def _schedules(args: argparse.Namespace) -> ScheduleClient:
    return client_for(args, client_class=ScheduleClient)


def cmd_create(args: argparse.Namespace) -> int:
    settings = create_settings(args)  # bad options are refused before any request
    arn = _schedules(args).create_schedule(args.name, settings)
    emit(args, {"ScheduleArn": arn}, arn)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    client = _schedules(args)
    found = []
    for summary in client.list_schedules(args.group, args.prefix):
        try:
            expression = client.get_schedule(summary["Name"], summary["GroupName"])["ScheduleExpression"]
        except Exception:  # noqa: BLE001 — deleted since it was listed: show what the listing said
            expression = ""
        found.append({**summary, "ScheduleExpression": expression})
    rows = [["NAME", "GROUP", "STATE", "EXPRESSION", "TARGET"]]
    rows += [[s["Name"], s["GroupName"], s["State"], s["ScheduleExpression"], s["Target"]["Arn"]] for s in found]
    emit(args, found, table(rows))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    _schedules(args).delete_schedule(args.name, args.group)
    emit(args, {"Name": args.name, "Deleted": True}, f"deleted schedule {args.name}")
    return 0


def _set_state(args: argparse.Namespace, state: str) -> int:
    client = _schedules(args)
    current = client.get_schedule(args.name, args.group)
    client.update_schedule(args.name, {**{key: current[key] for key in UPDATABLE if key in current}, "State": state})
    emit(args, {"Name": args.name, "State": state}, f"{state.lower()} schedule {args.name}")
    return 0


def add_schedule_commands(commands: argparse._SubParsersAction) -> None:
    """Register `faas schedules create|ls|rm|enable|disable` on the `faas` parser."""
    connection = client_options()
    schedules = command_group(commands, "schedules", help="manage schedules (EventBridge Scheduler)",
                              description="Create, list, enable, disable and delete schedules that invoke a "
                                          "function or send to a queue on a clock, through the EventBridge "
                                          "Scheduler API the platform serves (boto3's scheduler client and "
                                          "'aws scheduler' work on the same schedules).")
    group_option = argparse.ArgumentParser(add_help=False)
    group_option.add_argument("--group", metavar="G", help="schedule group (default: the 'default' group)")

    create = schedules.add_parser("create", parents=[connection, group_option], help="create a schedule, print its ARN",
                                  description="Create a schedule (CreateSchedule) and print its ARN.")
    create.add_argument("name", help="schedule name: up to 64 letters, digits, '-', '_' and '.'")
    create.add_argument("--expression", required=True, metavar="EXPR",
                        help="rate(5 minutes), cron(0 2 ? * MON-FRI *) (AWS's six fields) or at(2027-01-01T09:00:00)")
    create.add_argument("--target", required=True, metavar="ARN", help="the function's or queue's ARN")
    create.add_argument("--role", required=True, metavar="ARN",
                        help="execution role ARN: it must allow lambda:InvokeFunction or sqs:SendMessage on the target")
    create.add_argument("--input", metavar="JSON", help="the event the target gets (default {})")
    create.add_argument("--timezone", metavar="ZONE", help="IANA zone the expression is read in (default UTC)")
    create.add_argument("--description", metavar="TEXT")
    create.add_argument("--start", metavar="TIME", help="StartDate (ISO-8601): no firing before it")
    create.add_argument("--end", metavar="TIME", help="EndDate (ISO-8601): no firing after it")
    create.add_argument("--flexible-window", type=int, metavar="MIN",
                        help="fire anywhere within MIN minutes after each due time (FLEXIBLE; default OFF)")
    create.add_argument("--retries", type=int, metavar="N", help="MaximumRetryAttempts (0-185, default 185)")
    create.add_argument("--dead-letter", metavar="ARN", help="queue ARN that gets events that failed every attempt")
    create.add_argument("--delete-after-completion", action="store_true",
                        help="delete a one-time schedule once it has fired (ActionAfterCompletion DELETE)")
    create.add_argument("--disabled", action="store_true", help="create it DISABLED")
    create.set_defaults(run=cmd_create)

    ls = add_verb(schedules, "ls", parents=[connection, group_option], help="list schedules",
                  description="List the schedules of every group (or of --group).")
    ls.add_argument("--prefix", metavar="P", help="only schedules whose name starts with P")
    ls.set_defaults(run=cmd_ls)

    rm = add_verb(schedules, "rm", parents=[connection, group_option], help="delete a schedule",
                  description="Delete a schedule (DeleteSchedule).")
    rm.add_argument("name")
    rm.set_defaults(run=cmd_rm)

    for verb, state in (("enable", "ENABLED"), ("disable", "DISABLED")):
        parser = schedules.add_parser(verb, parents=[connection, group_option], help=f"{verb} a schedule",
                                      description=f"Set a schedule's State to {state} (UpdateSchedule with its "
                                                  "other settings unchanged).")
        parser.add_argument("name")
        parser.set_defaults(run=lambda args, state=state: _set_state(args, state))
