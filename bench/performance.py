"""Issue #15's figures in one command, each measured in the same run as its baseline.

  - bursts: N concurrent requests (default 10, 20, 50) to a never-invoked function whose handler runs 1 s,
    Init Duration p50/p99 of the environments started for them, without the prewarmed pool and with it
    (its default settings: the pool learns from each burst), beside one `docker run` and N parallel ones;
  - warm throughput with 1/8/64 keep-alive connections (wrk), beside the same server's `/health`, after a
    warm-up that started every environment the 64 connections need;
  - the CPU each request costs the server process (and each invocation the containers) during those runs;
  - sequential warm overhead: a signed no-op invoke minus `/health`, p50 and p99, same client and server;
  - memory: one idle warm environment, and the platform process holding `--functions` functions and
    `--idle` idle environments.
Every platform request is SigV4-signed as boto3 signs; the timed loops replay one signed request.

Usage:  .venv/bin/python bench/performance.py [--markdown] [--bursts 10 20 50] [--connections 1 8 64]
        [--seconds 10] [--sequential 3000] [--functions 5000] [--idle 500] [--skip memory ...]
        [--server-from CHECKOUT]
Needs: a running Docker engine, the runtime images (deploy/dev.sh does both) and wrk (apt-get install wrk).
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
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invoke import ROLE, Platform, idle_environment_memory, percentile, wrk_throughput  # noqa: E402

from faas.sandbox import images  # noqa: E402
from faas.security import sigv4  # noqa: E402

NOOP = "def handler(event, context):\n    return None\n"
ONE_SECOND = "import time\ndef handler(event, context):\n    time.sleep(1)\n    return None\n"
PREWARMED_UNDER_MS = 50


def code_zip(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def p50_p99(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "n": len(samples)} if samples else \
        {"p50": float("nan"), "p99": float("nan"), "n": 0}


class Client:
    """One keep-alive session to a platform, signing as boto3 does."""

    def __init__(self, platform: Platform, session: aiohttp.ClientSession) -> None:
        self.platform = platform
        self.session = session

    async def create(self, name: str, source: str) -> None:
        body = json.dumps({"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
                           "Code": {"ZipFile": code_zip(source)}, "MemorySize": 128}).encode()
        url = f"{self.platform.endpoint}/2015-03-31/functions"
        async with self.session.post(url, data=body, headers=self.platform.signed("POST", url, body)) as answer:
            assert answer.status == 201, await answer.text()

    def invoke_headers(self, name: str, tail: bool = False) -> dict[str, str]:
        """Signed as boto3 signs, X-Amz-Log-Type included when the log's tail (its Init Duration) is wanted."""
        parser = configparser.ConfigParser()
        parser.read(self.platform.tmp / "data" / "credentials")
        credentials = sigv4.Credentials(parser["default"]["aws_access_key_id"],
                                        parser["default"]["aws_secret_access_key"])
        headers = {"Content-Type": "application/json", **({"X-Amz-Log-Type": "Tail"} if tail else {})}
        url = self.platform.url(name)
        headers.update(sigv4.sign(credentials, "us-east-1", "lambda", "POST", url, headers, sigv4.payload_hash(b"{}")))
        return headers

    async def invoke(self, name: str, headers: dict[str, str]) -> float | None:
        """One invocation; its Init Duration when it was a cold start (with Tail headers)."""
        async with self.session.post(self.platform.url(name), data=b"{}", headers=headers) as answer:
            await answer.read()
            if answer.status != 200 or "X-Amz-Function-Error" in answer.headers:
                raise RuntimeError(f"invoke failed: {answer.status}")
            log = base64.b64decode(answer.headers.get("X-Amz-Log-Result", "")).decode()
        found = re.search(r"Init Duration: ([\d.]+) ms", log)
        return float(found.group(1)) if found else None

    async def environments(self) -> list[dict]:
        url = f"{self.platform.endpoint}/faas/v1/environments"
        async with self.session.get(url, headers=self.platform.signed("GET", url, b"")) as answer:
            return (await answer.json())["Environments"]


# -- bursts ----------------------------------------------------------------------------------------

async def docker_runs(image: str, parallel: int) -> list[float]:
    """Wall time of each of `parallel` `docker run --rm`s started at once, in ms."""
    async def one() -> float:
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            "docker", "run", "--rm", "--entrypoint", "/usr/bin/python3", image, "-c", "pass",
            stdout=asyncio.subprocess.DEVNULL)
        assert await proc.wait() == 0
        return (time.perf_counter() - start) * 1000

    return list(await asyncio.gather(*(one() for _ in range(parallel))))


async def quiet_pool(client: Client, settle_s: float = 3.0, timeout_s: float = 180.0) -> int:
    """Wait until the prewarmed pool stops changing; returns how many python3.13 environments it holds."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        count = sum(1 for e in await client.environments() if e["State"] == "prewarmed" and e["Runtime"] == "python3.13")
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return count
        await asyncio.sleep(0.25)
    return last


async def burst(client: Client, name: str, size: int) -> dict:
    await client.create(name, ONE_SECOND)
    headers = client.invoke_headers(name, tail=True)
    start = time.perf_counter()

    async def timed() -> tuple[float | None, float]:
        init = await client.invoke(name, headers)
        return init, (time.perf_counter() - start) * 1000

    answers = await asyncio.gather(*(timed() for _ in range(size)))
    inits = [init for init, _ in answers if init is not None]
    return {"size": size, "all_answered_ms": max(ms for _, ms in answers), "init": p50_p99(inits),
            "answered": p50_p99([ms for _, ms in answers]),
            "prewarmed": sum(1 for i in inits if i < PREWARMED_UNDER_MS), "started": len(inits)}


async def bursts(sizes: list[int], **settings: str) -> list[dict]:
    results = []
    with Platform(**settings) as platform:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(sizes) + 4)) as session:
            client = Client(platform, session)
            for i, size in enumerate(sizes):
                ready = await quiet_pool(client)
                results.append({"pool_before": ready, **await burst(client, f"burst-{i}-{size}", size)})
    return results


def engine_starts(image: str, total: int, parallel: int) -> dict:
    """`total` containers of the sandbox's spec (a generic python3.13 environment, every limit) started
    `parallel` at a time through the Docker API: each start's create+start time and the throughput."""
    import docker
    from concurrent.futures import ThreadPoolExecutor

    from faas.sandbox.docker_backend import create_kwargs
    from faas.sandbox.spec import prewarmed_spec

    api = docker.from_env(max_pool_size=64).api
    spec = prewarmed_spec("python3.13", image=image, region="us-east-1", runtime_api="127.0.0.1:9", node_id="bench",
                          slot="/nonexistent")
    kwargs = create_kwargs(spec, "faas", os.cpu_count())
    kwargs["host_config"]["binds"] = None  # no /var/task: the bootstrap is never reached, the process sleeps
    kwargs.update(entrypoint=["/usr/bin/python3"], command=["-c", "import time; time.sleep(60)"])

    def one() -> tuple[str, float]:
        start = time.perf_counter()
        created = api.create_container(host_config=api.create_host_config(**kwargs["host_config"]),
                                       **{k: v for k, v in kwargs.items() if k != "host_config"})
        api.start(created["Id"])
        return created["Id"], (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as threads:
        started = list(threads.map(lambda _: one(), range(total)))
    elapsed = time.perf_counter() - start
    for container_id, _ in started:
        api.kill(container_id)
    return {"per_start": p50_p99([ms for _, ms in started]), "per_second": total / elapsed}


# -- throughput and sequential overhead ------------------------------------------------------------------

async def sequential(session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], n: int
                     ) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        async with session.request(method, url, data=b"{}" if method == "POST" else None, headers=headers) as answer:
            await answer.read()
            assert answer.status == 200
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def containers_cpu_s() -> float:
    """CPU seconds used by every Docker container so far (the environments, the runtimes in them): cgroup v1's
    docker parent, or the sum of cgroup v2's scopes."""
    v1 = Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    total = 0.0
    for stat in Path("/sys/fs/cgroup/system.slice").glob("docker-*.scope/cpu.stat"):
        for line in stat.read_text().splitlines():
            if line.startswith("usage_usec "):
                total += int(line.split()[1]) / 1e6
    return total


def cpu_during(pid: int, run):  # type: ignore[no-untyped-def]
    """run()'s result, with the CPU the server process and the containers used meanwhile (seconds)."""
    server, containers = process_cpu_s(pid), containers_cpu_s()
    result = run()
    return result, process_cpu_s(pid) - server, containers_cpu_s() - containers


def wrk_get(url: str, connections: int, seconds: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


async def warm_path(args: argparse.Namespace) -> dict:
    result: dict = {"throughput": {}}
    with Platform() as platform:
        async with aiohttp.ClientSession() as session:
            client = Client(platform, session)
            await quiet_pool(client)  # nothing starting in the background while the warm path is timed
            await client.create("warm", NOOP)
            headers = client.invoke_headers("warm")
            health = f"{platform.endpoint}/health"
            invoke = platform.url("warm")
            await sequential(session, "POST", invoke, headers, 300)
            await sequential(session, "GET", health, {}, 300)
            h = p50_p99(await sequential(session, "GET", health, {}, args.sequential))
            w = p50_p99(await sequential(session, "POST", invoke, headers, args.sequential))
            result["sequential"] = {"health": h, "invoke": w,
                                    "overhead": {p: w[p] - h[p] for p in ("p50", "p99")}}
            # Warm-up: as many environments as the most connections, all started before anything is timed.
            most = max(args.connections)
            deadline = time.monotonic() + 120
            while sum(1 for e in await client.environments() if e["FunctionName"] == "warm") < most:
                assert time.monotonic() < deadline, "the warm-up did not start every environment"
                wrk_throughput(invoke, headers, most, 2)
            result["environments"] = sum(1 for e in await client.environments() if e["FunctionName"] == "warm")
            await quiet_pool(client)  # the warm-up's starts taught the pool a burst: let it refill first
        pid = platform.proc.pid
        for connections in args.connections:
            wrk_get(health, connections, 2)
            health_rate, health_cpu, _ = cpu_during(pid, lambda: wrk_get(health, connections, args.seconds))
            wrk_throughput(invoke, headers, connections, 2)
            (rate, errors), server_cpu, containers_cpu = cpu_during(
                pid, lambda: wrk_throughput(invoke, headers, connections, args.seconds))
            # CPU per request: where an invocation's cost goes, beside a /health request's.
            result["throughput"][connections] = {
                "health": health_rate, "invoke": rate, "errors": errors,
                "health_server_us": 1e6 * health_cpu / (health_rate * args.seconds),
                "invoke_server_us": 1e6 * server_cpu / (rate * args.seconds),
                "invoke_containers_us": 1e6 * containers_cpu / (rate * args.seconds)}
        result["idle_memory"] = idle_environment_memory(platform, "warm")
    return result


# -- memory of the platform process -------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


async def platform_memory(args: argparse.Namespace) -> dict:
    with Platform(FAAS_KEEP_ALIVE_S="3600", FAAS_MAX_CONCURRENCY=str(max(1000, args.idle + 100))) as platform:
        assert platform.proc is not None
        pid = platform.proc.pid
        connector = aiohttp.TCPConnector(limit=16)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
            client = Client(platform, session)
            await quiet_pool(client)
            result = {"start_mb": rss_mb(pid)}
            names = [f"fn-{i:05d}" for i in range(args.functions)]
            for chunk in range(0, len(names), 16):
                await asyncio.gather(*(client.create(name, NOOP) for name in names[chunk:chunk + 16]))
            result["functions_mb"] = rss_mb(pid)
            started = time.monotonic()
            invoked = names[:args.idle]
            for chunk in range(0, len(invoked), 16):
                await asyncio.gather(*(client.invoke(n, client.invoke_headers(n)) for n in invoked[chunk:chunk + 16]))
            result["start_idle_s"] = time.monotonic() - started
            envs = await client.environments()
            result["idle_envs"] = sum(1 for e in envs if e["State"] == "idle")
            result["idle_mb"] = rss_mb(pid)
    return result


# -- report ------------------------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> dict:
    results: dict = {}
    image = images.image_ref("faas", "python3.13")
    if "bursts" not in args.skip:
        await docker_runs(image, 2)  # the image's layers in the page cache
        results["docker_one"] = p50_p99([(await docker_runs(image, 1))[0] for _ in range(10)])
        results["docker_parallel"] = {n: p50_p99(await docker_runs(image, n)) for n in args.bursts}
        results["bursts_plain"] = await bursts(args.bursts, FAAS_PREWARM_PER_RUNTIME="0")
        results["bursts_pool"] = await bursts(args.bursts)
        # The platform's own network exists now (the platforms above made it).
        results["engine"] = {k: engine_starts(image, 12, k) for k in (1, 2, 3, 4, 12)}
    if "warm" not in args.skip:
        results["warm"] = await warm_path(args)
    if "memory" not in args.skip:
        results["memory"] = await platform_memory(args)
    return results


def markdown(r: dict, args: argparse.Namespace) -> str:
    lines: list[str] = []
    if "engine" in r:
        lines += ["| 12 starts through the Docker API, k at once (create + start) | per start p50 / p99 | starts per s |",
                  "| --- | --- | --- |"]
        for k, e in r["engine"].items():
            lines.append(f"| k = {k} | {e['per_start']['p50']:.0f} / {e['per_start']['p99']:.0f} ms "
                         f"| {e['per_second']:.1f} |")
        lines.append("")
    if "docker_one" in r:
        one = r["docker_one"]
        lines += [f"One `docker run --rm` of the runtime image: p50 {one['p50']:.0f} ms, p99 {one['p99']:.0f} ms "
                  f"(goal: Init p99 <= 1.5x = {1.5 * one['p50']:.0f} ms).", "",
                  "| burst (1 s handler) | N parallel `docker run`s p50 / p99 | no pool: Init p50 / p99 (started) "
                  "| with the pool: Init p50 / p99 | with the pool: prewarmed before, Init < 50 ms | all answered, "
                  "no pool / pool |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for plain, pool in zip(r["bursts_plain"], r["bursts_pool"]):
            n = plain["size"]
            d = r["docker_parallel"][n]
            lines.append(f"| {n} | {d['p50']:.0f} / {d['p99']:.0f} ms | {plain['init']['p50']:.0f} / "
                         f"{plain['init']['p99']:.0f} ms ({plain['started']}) | {pool['init']['p50']:.0f} / "
                         f"{pool['init']['p99']:.0f} ms ({pool['started']}) | {pool['pool_before']}, "
                         f"{pool['prewarmed']} | {plain['all_answered_ms']:.0f} / {pool['all_answered_ms']:.0f} ms |")
        lines.append("")
    if "warm" in r:
        s = r["warm"]["sequential"]
        lines += ["| sequential, same client and server | p50 | p99 |", "| --- | --- | --- |",
                  f"| `GET /health` | {s['health']['p50']:.3f} ms | {s['health']['p99']:.3f} ms |",
                  f"| warm signed no-op invoke | {s['invoke']['p50']:.3f} ms | {s['invoke']['p99']:.3f} ms |",
                  f"| **overhead** | **{s['overhead']['p50']:.3f} ms** | **{s['overhead']['p99']:.3f} ms** |", "",
                  f"| connections (wrk, {args.seconds} s; {r['warm']['environments']} environments warm) | `/health` "
                  "per s | invoke per s | ratio | errors | server CPU per request: `/health` / invoke "
                  "| containers' CPU per invoke |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c, t in r["warm"]["throughput"].items():
            lines.append(f"| {c} | {t['health']:.0f} | {t['invoke']:.0f} | {t['invoke'] / t['health']:.2f} "
                         f"| {t['errors']} | {t['health_server_us']:.0f} / {t['invoke_server_us']:.0f} us "
                         f"| {t['invoke_containers_us']:.0f} us |")
        m = r["warm"]["idle_memory"]
        lines += ["", f"One idle warm environment: {m['rss_mb']:.1f} MB resident ({m['usage_mb']:.1f} MB charged to "
                  "its cgroup, page cache included).", ""]
    if "memory" in r:
        m = r["memory"]
        lines += ["| platform process (`faas serve`) | resident |", "| --- | --- |",
                  f"| started, pool filled | {m['start_mb']:.0f} MB |",
                  f"| with {args.functions} functions | {m['functions_mb']:.0f} MB |",
                  f"| and {m['idle_envs']} idle environments (started in {m['start_idle_s']:.0f} s) "
                  f"| {m['idle_mb']:.0f} MB |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, nargs="+", default=[10, 20, 50], help="burst sizes, in this order")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 64], help="throughput connections")
    parser.add_argument("--seconds", type=int, default=10, help="length of each throughput run")
    parser.add_argument("--sequential", type=int, default=3000, help="sequential requests of each kind")
    parser.add_argument("--functions", type=int, default=5000, help="functions for the memory figure")
    parser.add_argument("--idle", type=int, default=500, help="idle environments for the memory figure")
    parser.add_argument("--skip", nargs="*", default=[], choices=["bursts", "warm", "memory"])
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--server-from", metavar="CHECKOUT", type=Path,
                        help="run `faas serve` from this checkout (a worktree of a baseline commit, say) to compare "
                             "commits on one machine; this script and its client stay the same")
    args = parser.parse_args()
    if args.server_from:
        # `python -m faas` looks in its working directory first, then PYTHONPATH, then the installed package.
        os.chdir(args.server_from.resolve())
        os.environ["PYTHONPATH"] = str(args.server_from.resolve())
    if not shutil.which("wrk") and "warm" not in args.skip:
        raise SystemExit("wrk is needed for the throughput figures: apt-get install wrk (or --skip warm)")
    results = asyncio.run(run(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
