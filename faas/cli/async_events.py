"""`faas events NAME`: a function's asynchronous invocations, pending and failed, with their attempts, next
retry and last error. It shares `faas events` with `faas events put` (EventBridge, faas.cli.events): a first
word that is none of the group's verbs names a function."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from faas.cli.common import add_verb, client_for, client_options, emit, print_to_stderr, table, usage

LIST = "ls"
STATES = ("pending", "failed", "all")  # as GET /faas/v1/functions/NAME/events takes them


class _AnyWord(Mapping[str, argparse.ArgumentParser]):
    """The group's verbs, as a mapping that contains every other word too (a function's name)."""

    def __init__(self, verbs: dict[str, argparse.ArgumentParser]) -> None:
        self._verbs = verbs

    def __getitem__(self, word: str) -> argparse.ArgumentParser:
        return self._verbs[word]

    def __iter__(self) -> Iterator[str]:
        return iter(self._verbs)

    def __len__(self) -> int:
        return len(self._verbs)

    def __contains__(self, word: object) -> bool:
        return True


class _VerbOrFunction(argparse._SubParsersAction):
    """`faas events`' verbs, where a first word that is none of them is a function's name: `faas events NAME`
    runs `faas events ls NAME`. argparse checks that word against `choices` before it calls the action, so
    choices holds any word; listed (help, shell completion), it gives the verbs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices = _AnyWord(self._name_parser_map)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if values[0] not in self._name_parser_map:
            values = [LIST, *values]
        super().__call__(parser, namespace, values, option_string)


def _next_retry(event: Mapping[str, Any], now: dt.datetime) -> str:
    if event["State"] != "pending":
        return "running" if event["State"] == "running" else "-"
    wait_s = int((dt.datetime.fromisoformat(event["NextAttemptAt"]) - now).total_seconds())
    if wait_s <= 0:
        return "now"
    minutes, seconds = divmod(wait_s, 60)
    return f"in {minutes}m {seconds}s" if minutes else f"in {seconds}s"


def _sent_to(event: Mapping[str, Any]) -> str:
    if event["State"] != "failed":
        return ""
    return ", ".join(event["SentTo"]) or "dropped"


def cmd_ls(args: argparse.Namespace) -> int:
    events = client_for(args).async_events(args.name, args.state, args.limit)
    if len(events) == args.limit:
        print_to_stderr(f"showing the first {args.limit} events; --limit N shows more")

    def text() -> None:
        if not events:
            print(f"{args.name} has no {'' if args.state == 'all' else args.state + ' '}asynchronous events")
            return
        now = dt.datetime.now(dt.timezone.utc)
        rows = [["REQUEST ID", "STATE", "ATTEMPTS", "NEXT RETRY", "LAST ERROR", "SENT TO"]]
        rows += [[e["RequestId"], e["State"], str(e["Attempts"]), _next_retry(e, now), e["LastError"] or "",
                  _sent_to(e)] for e in events]
        print(table(rows))

    emit(args, {"Events": events}, text)
    return 0


def add_events_group(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Register `faas events` with `faas events ls NAME` (also `faas events NAME`); returns the group, which
    faas.cli.events adds `put` to."""
    parser = commands.add_parser(
        "events", help="list a function's asynchronous events; put events on an event bus",
        usage="faas events [-h] FUNCTION [options]\n       faas events put [options]",
        description="'faas events FUNCTION' (short for 'faas events ls FUNCTION') lists the function's "
                    "asynchronous invocations (InvocationType Event): pending ones, waiting for an attempt or a "
                    "retry, or running, and those that failed for good (retries exhausted or too old), kept as "
                    "long as invocation records (FAAS_INVOCATION_RETENTION_DAYS). 'faas events put' puts a "
                    "custom event on an event bus (EventBridge's PutEvents). A function named 'ls' or 'put': "
                    "'faas events ls NAME'.")
    parser.set_defaults(run=lambda args: usage(parser))
    verbs = parser.add_subparsers(dest="events_command", metavar="FUNCTION | COMMAND", action=_VerbOrFunction,
                                  prog="faas events")
    ls = add_verb(
        verbs, LIST, parents=[client_options()], help="list a function's pending and failed asynchronous events",
        description="List a function's asynchronous invocations: REQUEST ID, STATE (pending: waiting for an "
                    "attempt or a retry; running; failed: retries exhausted or too old), ATTEMPTS started, NEXT "
                    "RETRY of a pending one, LAST ERROR (the errorType of its last attempt, when known) and, for "
                    "a failed one, where it was SENT TO (its on-failure destination and dead-letter target), or "
                    "'dropped'. Pending and running ones come first, earliest queued first, then failed ones, "
                    "latest first. Never the payload (-o json gives its size). Needs faas:ListAsyncEvents on "
                    "the function.")
    ls.add_argument("name", metavar="FUNCTION", help="the function's name or ARN")
    ls.add_argument("--state", choices=STATES, default="all",
                    help="pending (waiting or running), failed, or all (default)")
    ls.add_argument("--limit", type=int, default=100, metavar="N", help="at most N events, 1 to 1000 (default 100)")
    ls.set_defaults(run=cmd_ls)
    return verbs
