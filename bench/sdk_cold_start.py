"""Cold start of a function that imports the AWS SDK its runtime ships, beside one that does not.

Starts its own `faas serve` (twice: with the prewarmed pool and without, as bench/invoke.py does)
and, for each runtime, times the first invocation of never-invoked functions whose module
  - does nothing (the baseline, measured in the same run),
  - imports the SDK at module level: python3.13 `import boto3` and a client made; nodejs20.x an ES
    module and a CommonJS one importing `@aws-sdk/client-lambda` and making a LambdaClient.
The difference is what the SDK costs the function that uses it; the bootstrap never imports it, so
the baseline row is the runtime's cold start whether or not the image ships it. Also prints the size
of each runtime image (`docker image inspect`).

Usage:  .venv/bin/python bench/sdk_cold_start.py [--cold 5] [--memory 512] [--markdown]
Needs: a running Docker engine and built runtime images (deploy/dev.sh does both).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import subprocess
import zipfile

import aiohttp
from invoke import ROLE, Platform, summary, timed_post  # bench/invoke.py, beside this file

from faas.sandbox import images

CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    # name: (runtime, handler, files)
    "python3.13, no-op": ("python3.13", "app.handler", {"app.py": "def handler(event, context):\n    return None\n"}),
    "python3.13, `import boto3` + client": ("python3.13", "app.handler", {"app.py": (
        "import boto3\n\nlam = boto3.client('lambda')\n\n\ndef handler(event, context):\n    return None\n")}),
    "nodejs20.x, no-op": ("nodejs20.x", "index.handler", {"index.mjs": "export const handler = async () => null;\n"}),
    "nodejs20.x, ESM `import` client-lambda + client": ("nodejs20.x", "index.handler", {"index.mjs": (
        'import { LambdaClient } from "@aws-sdk/client-lambda";\n'
        "const lam = new LambdaClient({});\nexport const handler = async () => null;\n")}),
    "nodejs20.x, CJS `require` client-lambda + client": ("nodejs20.x", "index.handler", {"index.js": (
        'const { LambdaClient } = require("@aws-sdk/client-lambda");\n'
        "const lam = new LambdaClient({});\nexports.handler = async () => null;\n")}),
}


def zipped(files: dict[str, str]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode()


async def create(session: aiohttp.ClientSession, platform: Platform, name: str, case: str, memory_mb: int) -> None:
    runtime, handler, files = CASES[case]
    body = json.dumps({"FunctionName": name, "Runtime": runtime, "Role": ROLE, "Handler": handler,
                       "Code": {"ZipFile": zipped(files)}, "MemorySize": memory_mb, "Timeout": 30}).encode()
    url = f"{platform.endpoint}/2015-03-31/functions"
    async with session.post(url, data=body, headers=platform.signed("POST", url, body)) as response:
        assert response.status == 201, await response.text()


async def cold_starts(platform: Platform, n: int, prefix: str, memory_mb: int) -> dict[str, dict[str, float]]:
    """The cases interleaved, round after round, so a slower minute of the machine hits them all."""
    samples: dict[str, list[float]] = {case: [] for case in CASES}
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            for number, case in enumerate(CASES):
                name = f"{prefix}-{number}-{i}"
                await create(session, platform, name, case, memory_mb)
                url = platform.url(name)
                headers = platform.signed("POST", url, b"{}")
                await asyncio.sleep(1.0)  # let the prewarmed pool refill, as between real first calls
                samples[case].append(await timed_post(session, url, headers))
    return {case: summary(values) for case, values in samples.items()}


def image_sizes() -> dict[str, int]:
    sizes = {}
    for runtime in ("python3.13", "nodejs20.x", "provided.al2023"):
        ref = images.image_ref("faas", runtime)
        done = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref],
                              capture_output=True, text=True, check=True)
        sizes[ref] = int(done.stdout)
    return sizes


async def run(args: argparse.Namespace) -> dict:
    results: dict = {"image_sizes": image_sizes()}
    with Platform(FAAS_PREWARM_PER_RUNTIME="2") as platform:
        results["prewarmed"] = await cold_starts(platform, args.cold, "pre", args.memory)
    with Platform(FAAS_PREWARM_PER_RUNTIME="0") as platform:
        results["plain"] = await cold_starts(platform, args.cold, "plain", args.memory)
    return results


def markdown(r: dict, args: argparse.Namespace) -> str:
    lines = [f"| first invocation ({args.cold} never-invoked functions each, {args.memory} MB) "
             "| prewarmed pool p50 / p99 | no pool p50 / p99 |", "| --- | --- | --- |"]
    for case in CASES:
        pre, plain = r["prewarmed"][case], r["plain"][case]
        lines.append(f"| {case} | {pre['p50']:.0f} / {pre['p99']:.0f} ms "
                     f"| {plain['p50']:.0f} / {plain['p99']:.0f} ms |")
    lines += ["", "| image | size |", "| --- | --- |"]
    lines += [f"| `{ref}` | {size / 1e6:.1f} MB |" for ref, size in r["image_sizes"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", type=int, default=5, help="cold starts of each case, with and without the pool")
    parser.add_argument("--memory", type=int, default=512,
                        help="MemorySize of the functions: the CPU quota follows it (one vCPU per 1,769 MB, "
                             "at least half)")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
