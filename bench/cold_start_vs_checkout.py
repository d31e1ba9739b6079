"""Cold start of no-op functions on this checkout and on another one (the baseline), in one run.

Starts a `faas serve` of each checkout side by side (each with its own runtime images, named by its
recipes) and alternates never-invoked no-op python3.13 and nodejs20.x functions between them, the
order swapped every round, so a slower minute of the machine hits both. Run once with the prewarmed
pool and once without (`--pool 0`). Made to compare the images before and after a recipe change
(the SDKs), where two separate runs of bench/invoke.py differ by more than the change on a busy
machine.

Usage:  .venv/bin/python bench/cold_start_vs_checkout.py BASELINE_CHECKOUT [--cold 8] [--pool 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from pathlib import Path

import aiohttp
from invoke import REPO, Platform, timed_post  # bench/invoke.py, beside this file
from sdk_cold_start import create

CASES = ("python3.13, no-op", "nodejs20.x, no-op")  # from sdk_cold_start.CASES


def start(checkout: Path, pool: int) -> Platform:
    os.environ["PYTHONPATH"] = str(checkout)  # the `faas serve` subprocess runs that checkout's code
    return Platform(FAAS_PREWARM_PER_RUNTIME=str(pool)).__enter__()


async def run(args: argparse.Namespace) -> dict[tuple[str, str], list[float]]:
    platforms = {"baseline": start(args.baseline, args.pool), "this checkout": start(REPO, args.pool)}
    samples: dict[tuple[str, str], list[float]] = {(label, case): [] for label in platforms for case in CASES}
    try:
        async with aiohttp.ClientSession() as session:
            for i in range(args.cold):
                for number, case in enumerate(CASES):
                    order = list(platforms.items())
                    for label, platform in order if i % 2 == 0 else reversed(order):
                        name = f"vs-{number}-{i}"
                        await create(session, platform, name, case, 512)
                        url = platform.url(name)
                        headers = platform.signed("POST", url, b"{}")
                        await asyncio.sleep(1.0)  # let a prewarmed pool refill, as between real first calls
                        samples[(label, case)].append(await timed_post(session, url, headers))
    finally:
        for platform in platforms.values():
            platform.__exit__(None, None, None)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path, help="the other checkout (e.g. the main branch's)")
    parser.add_argument("--cold", type=int, default=8, help="cold starts of each case on each checkout")
    parser.add_argument("--pool", type=int, default=2, help="FAAS_PREWARM_PER_RUNTIME of both servers")
    args = parser.parse_args()
    samples = asyncio.run(run(args))
    print(f"| no-op function, first invocation (pool {args.pool}, {args.cold} each) | p50 | min |\n"
          "| --- | --- | --- |")
    for (label, case), values in samples.items():
        print(f"| {case}, {label} | {statistics.median(values):.0f} ms | {min(values):.0f} ms |")


if __name__ == "__main__":
    main()
