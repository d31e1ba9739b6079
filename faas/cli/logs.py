"""`faas logs NAME`: a function's latest invocations' logs, or with --since, --filter or --follow its log events
read through the CloudWatch Logs API (FilterLogEvents on /aws/lambda/NAME), followed as `aws logs tail
--follow` follows them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from faas.cli.common import client_for, client_options, emit, print_json, print_to_stderr, wants_json
from faas.client.logs import LogsClient
from faas.errors import ConfigError

FOLLOW_INTERVAL_S = 1.0
DEFAULT_SINCE = "10m"  # as `aws logs tail`
_RELATIVE = re.compile(r"(\d+)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_ms(text: str, now: dt.datetime) -> int:
    """Milliseconds since the epoch of `--since`: a duration back from now (30s, 10m, 2h, 1d, 1w) or an ISO-8601
    time (UTC unless it says otherwise)."""
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        start = now - dt.timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    else:
        try:
            start = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d, 1w) nor an ISO-8601 "
                              "time") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
    return int(start.timestamp() * 1000)


def follow(fetch: Callable[[int | None, str | None], dict[str, Any]], start_ms: int | None,
           sleep: Callable[[float], None], rounds: int | None = None) -> Iterator[dict[str, Any]]:
    """The events of FilterLogEvents pages, then of the pages that come later: at the end of the pages the next
    read starts at the newest timestamp seen, skipping the events already shown at it (aws logs tail's way).
    `rounds` bounds the reads of the end (None: until interrupted)."""
    seen: dict[int, set[str]] = {}
    token: str | None = None
    while True:
        page = fetch(start_ms, token)
        for event in page.get("events") or []:
            ids = seen.setdefault(event["timestamp"], set())
            if event["eventId"] not in ids:
                ids.add(event["eventId"])
                yield event
        if seen:
            newest = max(seen)
            seen = {newest: seen[newest]}
        token = page.get("nextToken")
        if token is None:
            if rounds is not None:
                rounds -= 1
                if rounds <= 0:
                    return
            if seen:
                start_ms = max(seen)
            sleep(FOLLOW_INTERVAL_S)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        sys.stdout.write(line if line.endswith("\n") or not line else line + "\n")
    sys.stdout.flush()


def cmd_logs(args: argparse.Namespace) -> int:
    events_mode = args.follow or args.filter is not None or args.since is not None
    if not events_mode:
        invocations = client_for(args).logs(args.name, args.limit or 20)
        emit(args, invocations, lambda: _print_lines([str(invocation.get("Log") or "") for invocation in invocations]))
        if not invocations:
            print_to_stderr(f"{args.name} has no invocations yet (or none kept): nothing to show")
        return 0
    if args.limit is not None:
        raise ConfigError("--limit counts invocations: it goes without --since, --filter and --follow")
    client = client_for(args, client_class=LogsClient)
    group = f"/aws/lambda/{args.name}"
    start = since_ms(args.since or DEFAULT_SINCE, dt.datetime.now(dt.timezone.utc))

    def fetch(start_ms: int | None, token: str | None) -> dict[str, Any]:
        return client.filter_events(group, start_ms=start_ms, pattern=args.filter, token=token)

    events = follow(fetch, start, time.sleep, rounds=None if args.follow else 1)
    if wants_json(args) and not args.follow:
        found = list(events)
        print_json(found)
    else:
        found = []
        try:
            for event in events:
                found.append(event)
                if wants_json(args):  # --follow has no end: a JSON document a line (JSON Lines)
                    print(json.dumps(event, ensure_ascii=False), flush=True)
                else:
                    _print_lines([str(event.get("message", ""))])
        except KeyboardInterrupt:  # the way to stop --follow
            return 0
    if not found:
        print_to_stderr(f"no log events of {args.name} since {args.since or DEFAULT_SINCE}"
                        + (f" matching {args.filter!r}" if args.filter is not None else ""))
    return 0


def add_logs_command(commands: argparse._SubParsersAction) -> None:
    logs = commands.add_parser(
        "logs", parents=[client_options()], help="print or follow a function's logs",
        description="Print the logs of a function's latest invocations, oldest first. With --since, --filter or "
                    "--follow, print its log events from the log group /aws/lambda/NAME instead (as `aws logs "
                    "tail` does, through the platform's CloudWatch Logs API), and with --follow keep printing new "
                    "ones until interrupted. A function with nothing to show says so on stderr. With -o json: the "
                    "invocations (RequestId, Start, DurationMs, Outcome, Log, ...) or the log events as one list; "
                    "with --follow, one event a line (JSON Lines).")
    logs.add_argument("name", help="function name")
    logs.add_argument("--limit", type=int, metavar="N", help="how many invocations (default 20)")
    logs.add_argument("--since", metavar="WHEN",
                      help=f"events from WHEN on: a duration back from now (30s, 10m, 2h, 1d, 1w) or an ISO-8601 "
                           f"time (default with --filter or --follow: {DEFAULT_SINCE})")
    logs.add_argument("--filter", metavar="PATTERN",
                      help="only events matching a CloudWatch Logs filter pattern: terms (ERROR), quoted phrases, "
                           "?alternatives, -exclusions, or a JSON pattern such as '{ $.level = \"ERROR\" }'")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new events until interrupted")
    logs.set_defaults(run=cmd_logs)
