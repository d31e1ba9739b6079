"""`faas usage` (a month's usage and its price, as a table, JSON or CSV) and `faas budgets` (owners'
monthly limits)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import Any

from faas import settings as settings_module
from faas.cli.access import audit_principal
from faas.cli.common import OUTPUT_FORMATS, add_verb, client_for, client_options, command_group, emit, \
    output_format, print_json, print_table, table

FIGURES = ("Requests", "GBSeconds", "DurationMs", "BilledDurationMs", "Errors", "Throttles", "ColdStarts", "Cost")
HEADINGS = {"Function": "FUNCTION", "Owner": "OWNER", "Functions": "FUNCTIONS", "Requests": "REQUESTS",
            "GBSeconds": "GB-SECONDS", "DurationMs": "DURATION-MS", "BilledDurationMs": "BILLED-MS",
            "Errors": "ERRORS", "Throttles": "THROTTLES", "ColdStarts": "COLD-STARTS", "Cost": "COST-USD"}


def _keys(report: dict[str, Any]) -> tuple[str, ...]:
    return (("Function", "Owner") if report["By"] == "function" else ("Owner", "Functions")) + FIGURES


def _cell(field: str, value: Any) -> str:
    if field == "Cost":
        return f"{value:.6f}"
    if field in ("GBSeconds", "DurationMs"):
        return f"{value:.3f}"
    return str(value)


def cmd_usage(args: argparse.Namespace) -> int:
    chosen = "csv" if args.output == "csv" else output_format(args)  # csv: this verb's own choice
    report = client_for(args).usage(args.month, args.by, args.function)
    keys = _keys(report)
    if chosen == "json":
        print_json(report)
    elif chosen == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows([row[key] for key in keys] for row in report["Rows"])
    else:
        total, free = report["Total"], report["FreeTier"]
        rows = [[HEADINGS[key] for key in keys]]
        rows += [[_cell(key, row[key]) for key in keys] for row in report["Rows"]]
        rows.append(["TOTAL", ""] + [_cell(key, total[key]) for key in FIGURES])
        print(table(rows))
        print(f"\n{report['Month']}: billed in {report['BillingStepMs']} ms steps, init "
              f"{'billed' if report['BillInit'] else 'not billed'}; "
              f"${report['Prices']['PerMillionRequests']:g} per million requests, "
              f"${report['Prices']['PerGBSecond']:g} per GB-second")
        print(f"free tier: {total['FreeRequests']} of {free['Requests']} requests, "
              f"{total['FreeGBSeconds']:.3f} of {free['GBSeconds']:g} GB-seconds")
        print(f"due: ${total['Due']:.6f} (${total['Cost']:.6f} before the free tier)")
    return 0


def _owner(args: argparse.Namespace) -> str:
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    return audit_principal(args.owner, config.account_id) or args.owner


def cmd_budgets_ls(args: argparse.Namespace) -> int:
    budgets = client_for(args).list_budgets()
    emit(args, budgets, lambda: print_table(budgets, {
        "OWNER": "Owner", "GB-SECONDS": "GBSeconds", "COST-USD": "Cost", "MONTH": "Month",
        "SPENT-GB-SECONDS": "SpentGBSeconds", "SPENT-USD": "SpentCost"}))
    return 0


def cmd_budgets_set(args: argparse.Namespace) -> int:
    budget = client_for(args).put_budget(_owner(args), gb_seconds=args.gb_seconds, cost=args.cost)
    print_json(budget)  # JSON either way
    return 0


def cmd_budgets_rm(args: argparse.Namespace) -> int:
    owner = _owner(args)
    client_for(args).delete_budget(owner)
    emit(args, {"Owner": owner, "Deleted": True}, f"removed the budget of {owner}")
    return 0


def add_usage_commands(commands: argparse._SubParsersAction) -> None:
    connection = client_options()
    usage_connection = client_options()  # its own copy: usage's -o has a third choice, csv
    output = next(a for a in usage_connection._actions if a.dest == "output")
    output.choices = (*OUTPUT_FORMATS, "csv")
    output.help = "text (default, a table), json (the API's answer; env FAAS_OUTPUT) or csv (the rows)"
    usage = commands.add_parser(
        "usage", parents=[usage_connection], help="print a month's usage and what it costs",
        description="Print a month's usage per function (or per owner): requests, billed GB-seconds, duration, "
                    "errors, throttles and cold starts, priced with the server's price table after the monthly "
                    "free tier.")
    usage.add_argument("--month", metavar="YYYY-MM", help="the month (default: this month, UTC)")
    usage.add_argument("--by", choices=("function", "owner"), default="function", help="one row per function "
                       "(default) or per owner (the principal that created the functions)")
    usage.add_argument("--function", metavar="NAME", help="only this function")
    usage.add_argument("--json", dest="output", action="store_const", const="json", help="the same as -o json: "
                       "print the API's JSON answer")
    usage.add_argument("--csv", dest="output", action="store_const", const="csv",
                       help="the same as -o csv: print the rows as CSV")
    usage.set_defaults(run=cmd_usage)

    budgets = command_group(commands, "budgets", "manage owners' monthly budgets",
                            "An owner past its monthly budget (GB-seconds or cost) has its functions throttled "
                            "(429, Reason OwnerBudgetExceeded) until the month ends or the budget is raised.")
    ls = add_verb(budgets, "ls", parents=[connection], help="list budgets and this month's spend",
                  description="List every budget with what its owner has spent this month.")
    ls.set_defaults(run=cmd_budgets_ls)
    owner_help = "the owner: a principal's ARN, or a principal's name (its user ARN)"
    put = budgets.add_parser("set", parents=[connection], help="set an owner's monthly budget",
                             description="Set (or replace) an owner's monthly limits: GB-seconds, cost in USD "
                                         "(priced without the free tier), or both.")
    put.add_argument("owner", metavar="OWNER", help=owner_help)
    put.add_argument("--gb-seconds", type=float, metavar="N", help="monthly limit of billed GB-seconds")
    put.add_argument("--cost", type=float, metavar="USD", help="monthly limit of cost in USD")
    put.set_defaults(run=cmd_budgets_set)
    rm = add_verb(budgets, "rm", parents=[connection], help="remove an owner's budget",
                  description="Remove an owner's budget: its functions are no longer limited.")
    rm.add_argument("owner", metavar="OWNER", help=owner_help)
    rm.set_defaults(run=cmd_budgets_rm)
