"""HTTP API benchmark: an API route beside a function URL and beside /health, in one run.

Starts its own `faas serve` on a temporary data dir, deploys one no-op Python handler, gives it a function
URL (NONE) and puts it behind an HTTP API of 52 routes (50 `GET /r<i>/{id}` decoys, `ANY /files/{proxy+}`
and the measured `GET /users/{id}`, payload 2.0), then measures, all path-style on the same listener:
  - sequential latency (p50, p99), the three kinds interleaved request by request so they share the
    machine's noise: GET /health, GET on the URL, GET /health, GET /users/7 on the API; overhead = each
    - /health. A /health before each invocation gives the function's runtime the same time to be back
    on /next for either (an invocation straight after another waits for that turnaround);
  - throughput of each with 4 keep-alive connections (wrk when installed, else aiohttp);
  - route matching alone: RouteTable.match on the same 52 routes, in-process (microseconds per match).

Usage:  .venv/bin/python bench/apis.py [--n 2000] [--seconds 5] [--markdown]
Needs: a running Docker engine and built runtime images (deploy/dev.sh does both); wrk for throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from invoke import Platform, create, summary  # noqa: E402

from faas.sources.api_routes import RouteTable  # noqa: E402

ACCOUNT = "000000000000"
DECOYS = 50


def route_keys() -> list[str]:
    return [f"GET /r{i}/{{id}}" for i in range(DECOYS)] + ["ANY /files/{proxy+}", "GET /users/{id}"]


async def call(session: aiohttp.ClientSession, platform: Platform, method: str, path: str,
               payload: dict | None = None) -> dict:
    url = platform.endpoint + path
    body = json.dumps(payload).encode() if payload is not None else b""
    async with session.request(method, url, data=body or None, headers=platform.signed(method, url, body)) as response:
        text = await response.text()
        assert response.status < 300, (method, path, response.status, text)
        return json.loads(text) if text else {}


async def setup(session: aiohttp.ClientSession, platform: Platform, name: str) -> tuple[str, str]:
    """The function's URL path and the API's measured path."""
    await create(session, platform, name)
    url = await call(session, platform, "POST", f"/2021-10-31/functions/{name}/url", {"AuthType": "NONE"})
    for sid, action, extra in (("url", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
                               ("urlinvoke", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True})):
        await call(session, platform, "POST", f"/2015-03-31/functions/{name}/policy",
                   {"StatementId": sid, "Action": action, "Principal": "*", **extra})
    url_id = re.match(r"https?://([a-z0-9]+)\.", url["FunctionUrl"]).group(1)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    api = await call(session, platform, "POST", "/v2/apis", {"name": "bench", "protocolType": "HTTP", "target": arn,
                                                             "routeKey": "GET /users/{id}"})
    api_id = api["apiId"]
    integration = (await call(session, platform, "GET", f"/v2/apis/{api_id}/integrations"))["items"][0]
    for key in route_keys()[:-1]:
        await call(session, platform, "POST", f"/v2/apis/{api_id}/routes",
                   {"routeKey": key, "target": f"integrations/{integration['integrationId']}"})
    return f"/lambda-url/{url_id}/users/7", f"/execute-api/{api_id}/users/7"


async def latency(session: aiohttp.ClientSession, platform: Platform, paths: dict[str, str],
                  n: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {kind: [] for kind in paths}
    order = [kind for kind in paths if kind != "/health"]
    for round_number in range(n + 100):
        for kind in [step for invoked in order for step in ("/health", invoked)]:
            path = paths[kind]
            start = time.perf_counter()
            async with session.get(platform.endpoint + path) as response:
                await response.read()
                assert response.status == 200, (kind, response.status)
            if round_number >= 100:  # the first rounds warm the environment and the caches
                samples[kind].append((time.perf_counter() - start) * 1000)
    return {kind: summary(values) for kind, values in samples.items()}


def wrk(url: str, seconds: int, connections: int = 4) -> tuple[float, int]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, int(errors.group(1)) if errors else 0


async def python_rate(url: str, seconds: int, connections: int = 4) -> tuple[float, int]:
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            async with session.get(url) as response:
                await response.read()
                done, errors = (done + 1, errors) if response.status == 200 else (done, errors + 1)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return done / seconds, errors


def matching_us(n: int = 200_000) -> float:
    table = RouteTable((key, {"routeKey": key}) for key in route_keys())
    start = time.perf_counter()
    for _ in range(n):
        table.match("GET", "/users/7")
    return (time.perf_counter() - start) / n * 1e6


async def run(args: argparse.Namespace) -> dict:
    with Platform() as platform:
        async with aiohttp.ClientSession() as session:
            url_path, api_path = await setup(session, platform, "bench-api")
            paths = {"/health": "/health", "function URL": url_path, "HTTP API route": api_path}
            lat = await latency(session, platform, paths, args.n)
        tool = "wrk" if shutil.which("wrk") else "python"
        rates = {}
        for kind, path in paths.items():
            url = platform.endpoint + path
            rates[kind] = wrk(url, args.seconds) if tool == "wrk" else await python_rate(url, args.seconds)
    return {"latency": lat, "rates": rates, "tool": tool, "matching_us": matching_us()}


def markdown(result: dict, args: argparse.Namespace) -> str:
    lat, rates = result["latency"], result["rates"]
    base = lat["/health"]
    lines = ["| what | p50 | p99 | overhead over /health p50 / p99 | requests/s (4 connections) |",
             "| --- | --- | --- | --- | --- |"]
    for kind, figures in lat.items():
        overhead = "-" if kind == "/health" else \
            f"{figures['p50'] - base['p50']:.2f} / {figures['p99'] - base['p99']:.2f} ms"
        rate, errors = rates[kind]
        lines.append(f"| {kind} | {figures['p50']:.2f} ms | {figures['p99']:.2f} ms | {overhead} | "
                     f"{rate:,.0f}{f' ({errors} errors)' if errors else ''} |")
    route, url = lat["HTTP API route"], lat["function URL"]
    lines.append("")
    lines.append(f"HTTP API route - function URL: p50 {route['p50'] - url['p50']:+.2f} ms, "
                 f"p99 {route['p99'] - url['p99']:+.2f} ms; route matching alone on {len(route_keys())} routes: "
                 f"{result['matching_us']:.1f} µs per request ({args.n} sequential requests of each kind, "
                 f"throughput by {result['tool']}, {args.seconds} s each).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="sequential requests of each kind (default 2000)")
    parser.add_argument("--seconds", type=int, default=5, help="throughput run of each kind (default 5)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(markdown(result, args) if args.markdown else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
