"""Invoke-path benchmark: every figure measured in the same run as its baseline.

Starts its own `faas serve` (twice: with the prewarmed pool and without) on temporary data dirs,
deploys no-op Python handlers and measures:
  - baseline HTTP: the same client against a bare aiohttp server answering a fixed body;
  - warm invocation latency, sequential (p50, p99); overhead = warm - baseline HTTP;
  - warm throughput with concurrent keep-alive clients (wrk when installed, else aiohttp);
  - cold start of never-invoked functions (p50, p99), with and without the prewarmed pool,
    beside `docker run --rm` of the same runtime image running a no-op Python;
  - a burst of 100 concurrent requests to a never-invoked function: errors and time until all answered;
  - memory of one idle warm environment (its cgroup's usage and RSS).
Every platform request is SigV4-signed as boto3 signs (the server verifies each one).

Usage:  .venv/bin/python bench/invoke.py [--warm 3000] [--cold 20] [--markdown]
Needs: a running Docker engine and built runtime images (deploy/dev.sh does both); wrk for the
throughput figure (apt-get install wrk), else a slower Python client is used and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import configparser
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faas.sandbox import images  # noqa: E402
from faas.sandbox.docker_backend import memory_peak_file  # noqa: E402
from faas.security import sigv4  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/faas-default"  # made by faas serve on first start
NOOP = "def handler(event, context):\n    return None\n"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples_ms, 50), "p99": percentile(samples_ms, 99),
            "mean": statistics.mean(samples_ms), "n": len(samples_ms)}


def noop_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", NOOP)
    return base64.b64encode(buffer.getvalue()).decode()


class Platform:
    """A `faas serve` subprocess on a temporary data dir."""

    def __init__(self, **settings: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="faas-bench-"))
        self.settings = settings
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""

    def __enter__(self) -> Platform:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
        env.update(FAAS_DATA_DIR=str(self.tmp / "data"), FAAS_PORT="0", FAAS_LOG_LEVEL="warning", **self.settings)
        self.proc = subprocess.Popen([sys.executable, "-m", "faas", "serve"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.tmp / "server.log", "wb"))
        endpoint_file = self.tmp / "data" / "endpoint"
        deadline = time.monotonic() + 300
        while not endpoint_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("faas serve did not start:\n" + (self.tmp / "server.log").read_text())
            time.sleep(0.1)
        self.endpoint = endpoint_file.read_text().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(120)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"{self.endpoint}/2015-03-31/functions/{name}/invocations"

    def signed(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """SigV4 headers as boto3 sends them. A signed request stays valid for 15 minutes, so the timed
        loops replay one: the server verifies every signature, the client does not pay for signing."""
        parser = configparser.ConfigParser()
        parser.read(self.tmp / "data" / "credentials")
        credentials = sigv4.Credentials(parser["default"]["aws_access_key_id"],
                                        parser["default"]["aws_secret_access_key"])
        headers = {"Content-Type": "application/json"}
        headers.update(sigv4.sign(credentials, "us-east-1", "lambda", method, url, headers,
                                  sigv4.payload_hash(body)))
        return headers


async def create(session: aiohttp.ClientSession, platform: Platform, name: str) -> None:
    body = json.dumps({"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
                       "Code": {"ZipFile": noop_zip()}, "MemorySize": 128}).encode()
    url = f"{platform.endpoint}/2015-03-31/functions"
    async with session.post(url, data=body, headers=platform.signed("POST", url, body)) as response:
        assert response.status == 201, await response.text()


async def timed_post(session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    async with session.post(url, data=b"{}", headers=headers) as response:
        await response.read()
        if response.status != 200 or "X-Amz-Function-Error" in response.headers:
            raise RuntimeError(f"invoke failed: {response.status}")
    return (time.perf_counter() - start) * 1000


async def bare_http_baseline(n: int) -> dict[str, float]:
    code = ("from aiohttp import web\n"
            "async def h(r):\n    await r.read()\n    return web.Response(body=b'null')\n"
            "app = web.Application(); app.router.add_post('/x', h)\n"
            "web.run_app(app, host='127.0.0.1', port=int(__import__('sys').argv[1]), print=None)\n")
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)])
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
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


def wrk_throughput(url: str, headers: dict[str, str], connections: int, seconds: int) -> tuple[float, int]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', 'wrk.body = "{}"']
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items() if name.lower() != "host"]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    script.unlink()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, int(errors.group(1)) if errors else 0


async def python_throughput(url: str, headers: dict[str, str], connections: int, seconds: int) -> tuple[float, int]:
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            async with session.post(url, data=b"{}", headers=headers) as response:
                await response.read()
                done, errors = (done + 1, errors) if response.status == 200 else (done, errors + 1)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        return done / (time.perf_counter() - start), errors


def docker_run_baseline(image: str, n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--entrypoint", "/usr/bin/python3", image, "-c", "pass"],
                       check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return summary(samples)


async def cold_starts(platform: Platform, n: int, prefix: str) -> dict[str, float]:
    samples = []
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            await create(session, platform, f"{prefix}-{i}")
            url = platform.url(f"{prefix}-{i}")
            headers = platform.signed("POST", url, b"{}")
            await asyncio.sleep(1.0)  # let the prewarmed pool refill, as between real first calls
            samples.append(await timed_post(session, url, headers))
    return summary(samples)


async def burst(platform: Platform, name: str, size: int = 100) -> dict[str, float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=size)) as session:
        await create(session, platform, name)
        headers = platform.signed("POST", platform.url(name), b"{}")
        start = time.perf_counter()
        results = await asyncio.gather(*(timed_post(session, platform.url(name), headers) for _ in range(size)),
                                       return_exceptions=True)
        elapsed = (time.perf_counter() - start) * 1000
    errors = sum(1 for r in results if isinstance(r, BaseException))
    return {"errors": errors, "all_answered_ms": elapsed}


async def pool_filled(platform: Platform, per_runtime: int, timeout_s: float = 120) -> None:
    """Wait until every runtime's prewarmed environments are up."""
    url = f"{platform.endpoint}/faas/v1/environments"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, headers=platform.signed("GET", url, b""))
        with urllib.request.urlopen(request, timeout=30) as answer:
            listing = json.loads(answer.read())["Environments"]
        runtimes = [env["Runtime"] for env in listing if env["State"] == "prewarmed"]
        if runtimes and all(runtimes.count(r) >= per_runtime for r in set(runtimes)) and len(set(runtimes)) >= 3:
            return
        await asyncio.sleep(0.25)
    raise SystemExit("the prewarmed pool did not fill")


def environment_of(platform: Platform, function: str) -> str:
    """The container id of one of `function`'s environments, from the operator's listing (a prewarmed
    container handed to the function keeps its generic labels, so Docker's labels cannot say)."""
    url = f"{platform.endpoint}/faas/v1/environments"
    request = urllib.request.Request(url, headers=platform.signed("GET", url, b""))
    with urllib.request.urlopen(request, timeout=30) as answer:
        listing = json.loads(answer.read())["Environments"]
    return next(env["ContainerId"] for env in listing if env["FunctionName"] == function)


def idle_environment_memory(platform: Platform, function: str) -> dict[str, float]:
    usage_file = memory_peak_file(environment_of(platform, function))
    cgroup = usage_file.parent if usage_file else None
    usage = rss = 0.0
    if cgroup and (cgroup / "memory.usage_in_bytes").exists():
        usage = int((cgroup / "memory.usage_in_bytes").read_text()) / 2 ** 20
        stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
        rss = int(stat["total_rss"]) / 2 ** 20
    elif cgroup:
        usage = int((cgroup / "memory.current").read_text()) / 2 ** 20
        stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
        rss = int(stat["anon"]) / 2 ** 20
    return {"usage_mb": usage, "rss_mb": rss}


async def run(args: argparse.Namespace) -> dict:
    results: dict = {"baseline_http": await bare_http_baseline(args.warm)}
    image = images.image_ref("faas", "python3.13")
    results["docker_run"] = docker_run_baseline(image, args.cold)

    with Platform(FAAS_PREWARM_PER_RUNTIME="2") as platform:
        async with aiohttp.ClientSession() as session:
            await pool_filled(platform, 2)  # its containers start one or two at a time: not while timing
            await create(session, platform, "warm")
            url = platform.url("warm")
            headers = platform.signed("POST", url, b"{}")
            for _ in range(300):
                await timed_post(session, url, headers)
            results["warm"] = summary([await timed_post(session, url, headers) for _ in range(args.warm)])
        await asyncio.sleep(1)
        results["idle_memory"] = idle_environment_memory(platform, "warm")
        tool = "wrk" if shutil.which("wrk") else "python"
        results["throughput"] = {}
        for connections in args.connections:
            if tool == "wrk":
                wrk_throughput(url, headers, connections, 2)  # let the pool scale out first
                rate, errors = wrk_throughput(url, headers, connections, args.seconds)
            else:
                rate, errors = await python_throughput(url, headers, connections, args.seconds)
            results["throughput"][connections] = {"rate": rate, "errors": errors, "client": tool}
        results["cold_prewarmed"] = await cold_starts(platform, args.cold, "cold-pre")
        results["burst_prewarmed"] = await burst(platform, "burst-pre")

    with Platform(FAAS_PREWARM_PER_RUNTIME="0") as platform:
        results["cold_plain"] = await cold_starts(platform, args.cold, "cold")
        results["burst_plain"] = await burst(platform, "burst")

    results["overhead"] = {p: results["warm"][p] - results["baseline_http"][p] for p in ("p50", "p99")}
    return results


def markdown(r: dict, args: argparse.Namespace) -> str:
    b, w, o, d = r["baseline_http"], r["warm"], r["overhead"], r["docker_run"]
    cp, cc = r["cold_prewarmed"], r["cold_plain"]
    lines = [
        "| measure | p50 | p99 |",
        "| --- | --- | --- |",
        f"| baseline: HTTP round trip to a bare aiohttp server | {b['p50']:.2f} ms | {b['p99']:.2f} ms |",
        f"| warm invoke of a no-op handler ({args.warm} sequential) | {w['p50']:.2f} ms | {w['p99']:.2f} ms |",
        f"| **platform overhead** (warm - baseline) | **{o['p50']:.2f} ms** | **{o['p99']:.2f} ms** |",
        f"| baseline: `docker run --rm` of the runtime image | {d['p50']:.0f} ms | {d['p99']:.0f} ms |",
        f"| cold start, prewarmed pool ({args.cold} never-invoked functions) | {cp['p50']:.0f} ms "
        f"({cp['p50'] / d['p50']:.2f}x docker run) | {cp['p99']:.0f} ms |",
        f"| cold start, no prewarmed pool | {cc['p50']:.0f} ms ({cc['p50'] / d['p50']:.2f}x docker run) "
        f"| {cc['p99']:.0f} ms |",
        "",
        "| warm throughput, concurrent keep-alive clients | invocations/s | errors |",
        "| --- | --- | --- |",
    ]
    for connections, t in r["throughput"].items():
        lines.append(f"| {connections} ({t['client']}, {args.seconds} s) | {t['rate']:.0f} | {t['errors']} |")
    lines += [
        "",
        "| burst of 100 concurrent requests to a never-invoked function | errors | all answered after |",
        "| --- | --- | --- |",
        f"| with the prewarmed pool | {r['burst_prewarmed']['errors']} | {r['burst_prewarmed']['all_answered_ms']:.0f} ms |",
        f"| without | {r['burst_plain']['errors']} | {r['burst_plain']['all_answered_ms']:.0f} ms |",
        "",
        f"Memory of one idle warm environment: {r['idle_memory']['rss_mb']:.1f} MB resident "
        f"({r['idle_memory']['usage_mb']:.1f} MB charged to its cgroup, page cache included).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=3000, help="sequential warm invocations")
    parser.add_argument("--cold", type=int, default=20, help="cold starts of each kind, and docker runs")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2, 4, 8], help="throughput clients")
    parser.add_argument("--seconds", type=int, default=10, help="length of each throughput run")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
