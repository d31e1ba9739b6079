"""`faas top`: a live table of each function's invocations per second, errors, p99 duration and
concurrency, computed from two successive scrapes of GET /metrics (rates over the refresh interval)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live
from rich.table import Table

from faas.cli.common import client_for, client_options, print_json, wants_json
from faas.errors import ConfigError


@dataclasses.dataclass
class Sample:
    """One scrape, reduced to what the table needs, per function."""

    at: float  # time.monotonic() of the scrape
    invocations: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    errors: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    throttles: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    concurrency: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    # function -> {upper bound: cumulative count} of faas_invoke_duration_seconds
    buckets: dict[str, dict[float, float]] = dataclasses.field(default_factory=lambda: defaultdict(dict))


@dataclasses.dataclass(frozen=True)
class Row:
    function: str
    per_second: float
    errors_per_second: float
    throttles_per_second: float
    p99_ms: float | None  # None when nothing ran in the interval
    concurrency: int


def parse(text: str, at: float) -> Sample:
    sample = Sample(at)
    totals = {"faas_invocations_total": sample.invocations, "faas_errors_total": sample.errors,
              "faas_throttles_total": sample.throttles, "faas_concurrent_executions": sample.concurrency}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.labels.get("faas_name")
            if name is None:
                continue
            if s.name in totals:
                totals[s.name][name] += s.value
            elif s.name == "faas_invoke_duration_seconds_bucket":
                sample.buckets[name][float(s.labels["le"])] = s.value
    return sample


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of a histogram's cumulative buckets, interpolated within its bucket as Prometheus's
    histogram_quantile() does; None for an empty histogram."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # past the largest finite bound: that bound is all that is known
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


def _delta(name: str, now: dict[str, float], then: dict[str, float]) -> float:
    return max(0.0, now.get(name, 0.0) - then.get(name, 0.0))  # a restart resets counters: never below 0


def rows(before: Sample, after: Sample) -> list[Row]:
    """Each function's rates between two scrapes; a function with nothing in the interval and nothing
    running is left out."""
    elapsed = max(after.at - before.at, 1e-9)
    found = []
    for name in sorted(set(after.invocations) | set(after.concurrency) | set(after.throttles)):
        invoked = _delta(name, after.invocations, before.invocations)
        errors = _delta(name, after.errors, before.errors)
        throttled = _delta(name, after.throttles, before.throttles)
        concurrency = int(after.concurrency.get(name, 0))
        if not (invoked or throttled or concurrency):
            continue
        previous = before.buckets.get(name, {})
        window = {bound: max(0.0, count - previous.get(bound, 0.0))
                  for bound, count in after.buckets.get(name, {}).items()}
        p99 = quantile(0.99, window)
        found.append(Row(name, invoked / elapsed, errors / elapsed, throttled / elapsed,
                         None if p99 is None else p99 * 1000, concurrency))
    return found


def render(found: list[Row], interval_s: float, endpoint: str) -> Table:
    table = Table(title=f"faas top: {endpoint}, rates over {interval_s:.1f} s", title_justify="left")
    for heading in ("FUNCTION", "INVOKES/S", "ERRORS/S", "THROTTLES/S", "P99 MS", "CONCURRENCY"):
        table.add_column(heading, justify="left" if heading == "FUNCTION" else "right")
    for row in found:
        table.add_row(row.function, f"{row.per_second:.1f}", f"{row.errors_per_second:.1f}",
                      f"{row.throttles_per_second:.1f}", "-" if row.p99_ms is None else f"{row.p99_ms:.1f}",
                      str(row.concurrency))
    if not found:
        table.add_row("(nothing ran)", "", "", "", "", "")
    return table


def cmd_top(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ConfigError("--interval must be more than 0 seconds")
    if args.count is not None and args.count < 1:
        raise ConfigError("--count must be at least 1")
    client = client_for(args)
    console = Console()

    def scrape() -> Sample:
        return parse(client.metrics(), time.monotonic())

    before = scrape()
    if wants_json(args):  # one snapshot: the rates over one interval, as one document
        time.sleep(args.interval)
        after = scrape()
        print_json({"Endpoint": client.endpoint_url, "IntervalSeconds": round(after.at - before.at, 3),
                    "Functions": [dataclasses.asdict(row) for row in rows(before, after)]})
        return 0
    refreshes = 0
    view = Live(console=console, auto_refresh=False) if console.is_terminal else _Printed(console)
    with view:
        while args.count is None or refreshes < args.count:
            time.sleep(args.interval)
            after = scrape()
            view.update(render(rows(before, after), after.at - before.at, client.endpoint_url), refresh=True)
            before, refreshes = after, refreshes + 1
    return 0


class _Printed:
    """Live's stand-in when stdout is not a terminal (a pipe, a file, a test): each refresh printed whole."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __enter__(self) -> _Printed:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, table: Table, refresh: bool = True) -> None:
        self._console.print(table)


def add_top_command(commands: argparse._SubParsersAction) -> None:
    top = commands.add_parser(
        "top", parents=[client_options()], help="live invocations/s, errors, p99 and concurrency per function",
        description="Scrape GET /metrics every --interval seconds and show, per function, invocations and errors "
                    "per second, throttles per second and the p99 duration over the interval, and invocations "
                    "running now. Needs faas:GetMetrics. Ctrl-C stops it; --count stops after N refreshes. "
                    "With -o json it prints one snapshot (the rates over one interval) as JSON and exits.")
    top.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between refreshes (default 2)")
    top.add_argument("--count", type=int, metavar="N", help="stop after N refreshes (default: run until Ctrl-C)")
    top.set_defaults(run=cmd_top)
