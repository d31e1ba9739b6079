"""Invoke-path benchmark: warm latency and throughput, cold start beside plain `docker run`.

Starts its own `faas serve` on a temporary data dir, deploys a no-op Python handler and measures,
in one run:
  - baseline: an HTTP round trip to a bare aiohttp server answering a fixed body (what any HTTP
    server in this process model costs), and the same through one aiohttp proxy hop;
  - warm invocation latency, sequential (p50, p99) -> overhead = warm - baseline;
  - warm throughput with concurrent clients;
  - cold start of never-invoked functions (p50, p99) beside `docker run --rm` of the same image.

Usage:  .venv/bin/python bench/invoke.py [--warm 2000] [--concurrency 16] [--cold 10] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faas.sandbox import images  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/bench"
NOOP = "def handler(event, context):\n    return None\n"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples_ms, 50), "p99": percentile(samples_ms, 99), "mean": statistics.mean(samples_ms)}


def noop_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", NOOP)
    return base64.b64encode(buffer.getvalue()).decode()


class Platform:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="faas-bench-"))
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
        env.update(FAAS_DATA_DIR=str(self.tmp / "data"), FAAS_PORT="0", FAAS_LOG_LEVEL="warning")
        self.proc = subprocess.Popen([sys.executable, "-m", "faas", "serve"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.tmp / "server.log", "wb"))
        endpoint_file = self.tmp / "data" / "endpoint"
        deadline = time.monotonic() + 300
        while not endpoint_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("faas serve did not start:\n" + (self.tmp / "server.log").read_text())
            time.sleep(0.1)
        self.endpoint = endpoint_file.read_text().strip()

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(60)
        shutil.rmtree(self.tmp, ignore_errors=True)


async def create(session: aiohttp.ClientSession, endpoint: str, name: str, code: str) -> None:
    body = {"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
            "Code": {"ZipFile": code}, "MemorySize": 128}
    async with session.post(f"{endpoint}/2015-03-31/functions", json=body) as response:
        assert response.status == 201, await response.text()


async def timed_post(session: aiohttp.ClientSession, url: str) -> float:
    start = time.perf_counter()
    async with session.post(url, data=b"{}") as response:
        await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000


async def baseline(n: int) -> dict[str, float]:
    """The same client against a bare aiohttp server in another process answering a fixed body."""
    code = ("from aiohttp import web\n"
            "async def h(r):\n    await r.read()\n    return web.Response(body=b'null')\n"
            "app = web.Application(); app.router.add_post('/x', h)\n"
            "web.run_app(app, host='127.0.0.1', port=int(__import__('sys').argv[1]), print=None)\n")
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)])
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    await timed_post(session, f"http://127.0.0.1:{port}/x")
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            samples = [await timed_post(session, f"http://127.0.0.1:{port}/x") for _ in range(n)]
    finally:
        proc.terminate()
        proc.wait()
    return summary(samples)


async def throughput(url: str, concurrency: int, seconds: float) -> tuple[float, int]:
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            async with session.post(url, data=b"{}") as response:
                await response.read()
                if response.status == 200 and "X-Amz-Function-Error" not in response.headers:
                    done += 1
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return done / elapsed, errors


def docker_run_baseline(image: str, n: int) -> dict[str, float]:
    """`docker run --rm` of the runtime image running a no-op Python: what a naive cold start costs."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--entrypoint", "/usr/bin/python3", image, "-c", "pass"],
                       check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return summary(samples)


async def run(args: argparse.Namespace) -> dict:
    platform = Platform()
    platform.start()
    results: dict = {}
    try:
        code = noop_zip()
        async with aiohttp.ClientSession() as session:
            await create(session, platform.endpoint, "bench-warm", code)
            url = f"{platform.endpoint}/2015-03-31/functions/bench-warm/invocations"
            for _ in range(200):  # warm-up, and the first call is the cold start
                await timed_post(session, url)
            warm = [await timed_post(session, url) for _ in range(args.warm)]
            results["warm"] = summary(warm)

            cold = []
            for i in range(args.cold):
                name = f"bench-cold-{i}"
                await create(session, platform.endpoint, name, code)
                cold.append(await timed_post(session, f"{platform.endpoint}/2015-03-31/functions/{name}/invocations"))
            results["cold"] = summary(cold)
        results["baseline_http"] = await baseline(args.warm)
        results["throughput"], results["throughput_errors"] = await throughput(url, args.concurrency, args.seconds)
        results["docker_run"] = docker_run_baseline(images.image_ref("faas", "python3.13"), args.cold)
    finally:
        platform.stop()
    results["overhead_p50"] = results["warm"]["p50"] - results["baseline_http"]["p50"]
    results["overhead_p99"] = results["warm"]["p99"] - results["baseline_http"]["p99"]
    return results


def markdown(results: dict, args: argparse.Namespace) -> str:
    w, b, c, d = results["warm"], results["baseline_http"], results["cold"], results["docker_run"]
    return "\n".join([
        f"| measure | p50 | p99 |",
        f"| --- | --- | --- |",
        f"| baseline: HTTP round trip to a bare aiohttp server | {b['p50']:.2f} ms | {b['p99']:.2f} ms |",
        f"| warm invoke of a no-op handler ({args.warm} sequential) | {w['p50']:.2f} ms | {w['p99']:.2f} ms |",
        f"| platform overhead (warm - baseline) | {results['overhead_p50']:.2f} ms | {results['overhead_p99']:.2f} ms |",
        f"| baseline: `docker run --rm` of the runtime image | {d['p50']:.0f} ms | {d['p99']:.0f} ms |",
        f"| cold start of a never-invoked function ({args.cold}) | {c['p50']:.0f} ms | {c['p99']:.0f} ms |",
        "",
        f"Warm throughput, {args.concurrency} concurrent keep-alive clients for {args.seconds:.0f} s: "
        f"**{results['throughput']:.0f} invocations/s**, {results['throughput_errors']} errors.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=2000, help="sequential warm invocations")
    parser.add_argument("--cold", type=int, default=10, help="cold starts (and docker runs)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients in the throughput run")
    parser.add_argument("--seconds", type=float, default=10, help="length of the throughput run")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
