"""What observability costs the invoke path: metrics (FAAS_METRICS_ENABLED) and usage rollups
(FAAS_USAGE_ENABLED, when this checkout has that setting) on and off, measured in one run.

Starts one `faas serve` per combination at once (no prewarmed pool), deploys the same no-op Python handler
on each and measures, in rounds:
  - warm invocation latency, sequential, interleaved request by request across the servers so all share
    the machine's noise (p50, p99 per round);
  - warm throughput with 4 keep-alive connections (wrk when installed, else aiohttp), one server after
    another.
Each round starts with another server (the order rotates), so none always follows the same one.
Figures are the median over the rounds. Beside them, in-process: what the invoke path's one call to the
metrics (Metrics.invoked) and the API's request counter (Metrics.api_request) cost per call (the fastest
of 7 runs of 100,000 calls).
Every request is SigV4-signed; the server verifies each one.

Usage:  .venv/bin/python bench/observability.py [--rounds 5] [--warm 1000] [--seconds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import aiohttp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from invoke import Platform, create, percentile, python_throughput, timed_post, wrk_throughput  # noqa: E402

from faas.metrics import Metrics  # noqa: E402
from faas.settings import SETTINGS  # noqa: E402

CONNECTIONS = 4


def combinations() -> list[dict[str, str]]:
    """Every on/off combination of the switches this checkout has."""
    switches = [s.env for s in SETTINGS if s.name in ("metrics_enabled", "usage_enabled")]
    return [dict(zip(switches, values)) for values in itertools.product(("true", "false"), repeat=len(switches))]


def label(config: dict[str, str]) -> str:
    return ", ".join(f"{env.removeprefix('FAAS_').removesuffix('_ENABLED').lower()} {'on' if on == 'true' else 'off'}"
                     for env, on in config.items())


def per_call_ns(call, n: int = 100_000, repeat: int = 7) -> float:  # type: ignore[no-untyped-def]
    """The fastest of `repeat` runs, as timeit reports: the others measure the machine's other load."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def in_process() -> dict[str, float]:
    metrics = Metrics()
    return {"invoked_warm_ns": per_call_ns(lambda: metrics.invoked("fn", "success", 1.2, None, False)),
            "invoked_cold_ns": per_call_ns(lambda: metrics.invoked("fn", "success", 1.2, 80.0, True)),
            "api_request_ns": per_call_ns(lambda: metrics.api_request("lambda:InvokeFunction", 200))}


async def run(args: argparse.Namespace) -> dict:
    configs = combinations()
    with contextlib.ExitStack() as stack:
        platforms = [stack.enter_context(Platform(FAAS_PREWARM_PER_RUNTIME="0", **config)) for config in configs]
        async with aiohttp.ClientSession() as session:
            targets = []
            for platform in platforms:
                await create(session, platform, "warm")
                url = platform.url("warm")
                targets.append((url, platform.signed("POST", url, b"{}")))
            for _ in range(300):
                for url, headers in targets:
                    await timed_post(session, url, headers)
            rounds: list[list[dict]] = [[] for _ in configs]
            for round_number in range(args.rounds):
                # Each round starts with another server, so none always follows the same one.
                order = list(range(len(configs)))
                order = order[round_number % len(order):] + order[:round_number % len(order)]
                samples: list[list[float]] = [[] for _ in configs]
                for _ in range(args.warm):
                    for i in order:
                        url, headers = targets[i]
                        samples[i].append(await timed_post(session, url, headers))
                rates = {}
                for i in order:
                    url, headers = targets[i]
                    if shutil.which("wrk"):
                        if round_number == 0:
                            wrk_throughput(url, headers, CONNECTIONS, 2)  # let the pool scale out first
                        rates[i] = wrk_throughput(url, headers, CONNECTIONS, args.seconds)[0]
                    else:
                        rates[i] = (await python_throughput(url, headers, CONNECTIONS, args.seconds))[0]
                for i in range(len(configs)):
                    rounds[i].append({"p50": percentile(samples[i], 50), "p99": percentile(samples[i], 99),
                                      "rate": rates[i]})
    results = []
    for config, measured in zip(configs, rounds):
        results.append({"config": config, "label": label(config), "rounds": measured,
                        **{key: statistics.median(r[key] for r in measured) for key in ("p50", "p99", "rate")}})
    return {"servers": results, "in_process": in_process(), "client": "wrk" if shutil.which("wrk") else "python"}


def markdown(r: dict, args: argparse.Namespace) -> str:
    baseline = r["servers"][-1]  # everything off
    lines = [f"| server | p50 | p99 | p50 - all off | invocations/s ({CONNECTIONS} connections, {r['client']}) |",
             "| --- | --- | --- | --- | --- |"]
    for s in r["servers"]:
        lines.append(f"| {s['label']} | {s['p50']:.3f} ms | {s['p99']:.2f} ms | {s['p50'] - baseline['p50']:+.3f} ms "
                     f"| {s['rate']:,.0f} |")
    p = r["in_process"]
    lines += ["", f"Medians of {args.rounds} rounds of {args.warm} sequential invocations each, interleaved across "
              "the servers, and of one throughput run per server per round.", "",
              f"In process: `Metrics.invoked` (the invoke path's one call) {p['invoked_warm_ns'] / 1000:.1f} µs "
              f"for a warm invocation, {p['invoked_cold_ns'] / 1000:.1f} µs for a cold one; "
              f"`Metrics.api_request` {p['api_request_ns'] / 1000:.1f} µs per request."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="rounds of measurement (a multiple of the number "
                        "of servers gives each the same places in the order)")
    parser.add_argument("--warm", type=int, default=1000, help="sequential warm invocations per server per round")
    parser.add_argument("--seconds", type=int, default=3, help="length of each throughput run")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
