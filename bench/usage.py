"""Usage benchmark: reading a month of usage over 10 million generated invocations.

Generates N invocation records (default 10 million) of F functions (default 1000) owned by O owners (default
100) in one month, and counts every one through the real usage meter (faas.dispatch.usage), which writes
its rollups to a real store every `--flush-every` records (default 100,000: one write a second at 100,000
invocations a second). With `--raw`, the same records are also written to the invocations table through
the real InvocationStore, so the month is read beside 10 million raw rows it must not scan.

Then measures reading the month as GET /faas/v1/usage does (UsageService.report), by function and by owner,
`--reads` times each: p50 and max. Figures go to docs/BENCHMARKS.md.

Usage:  .venv/bin/python bench/usage.py [--records 10000000] [--raw] [--database-url postgresql://...]
(default store: SQLite in a temporary directory; a PostgreSQL URL must name an empty database)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faas.billing import Metering, Prices  # noqa: E402
from faas.dispatch.usage import UsageMeter  # noqa: E402
from faas.model import Function, InvocationRecord  # noqa: E402
from faas.services.usage import UsageService  # noqa: E402
from faas.settings import normalise_database_url  # noqa: E402
from faas.store.db import create_engine, migrate  # noqa: E402
from faas.store.invocations import InvocationStore  # noqa: E402
from faas.store.usage import UsageStore  # noqa: E402

MONTH_START = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def functions(count: int, owners: int) -> list[Function]:
    return [Function(name=f"fn-{i:05d}", runtime="python3.13", handler="app.handler", role="r", description="",
                     memory_size=(128, 256, 512, 1024)[i % 4], timeout=3, ephemeral_storage=512, environment={},
                     package_type="Zip", code_sha256=None, code_size=0, image_uri=None, image_config={},
                     revision_id="x", last_modified=MONTH_START,
                     owner=f"arn:aws:iam::000000000000:user/owner-{i % owners:03d}")
            for i in range(count)]


def record(fn: Function, n: int, metering: Metering) -> InvocationRecord:
    duration = 3.0 + (n * 7919) % 400  # deterministic spread of 3-403 ms
    cold = n % 50 == 0
    init = 180.0 if cold else None
    return InvocationRecord(
        request_id=f"req-{n}", function_name=fn.name,
        started_at=MONTH_START + dt.timedelta(seconds=n * (30 * 86400 - 1) // 10**7 % (30 * 86400)),
        duration_ms=duration, billed_duration_ms=metering.billed_ms(duration, init), memory_size=fn.memory_size,
        max_memory_used_mb=40, init_duration_ms=init, cold=cold, outcome="error" if n % 97 == 0 else "success",
        error_type=None, log="")


async def generate(args: argparse.Namespace, engine, meter: UsageMeter) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Seconds spent counting in the meter and writing rollups (and raw records, with --raw)."""
    metering, fns = Metering(), functions(args.functions, args.owners)
    raw = InvocationStore(engine)
    counting = writing = 0.0
    batch: list[InvocationRecord] = []
    started = time.perf_counter()
    for n in range(args.records):
        fn = fns[n % len(fns)]
        rec = record(fn, n, metering)
        t0 = time.perf_counter()
        meter.invoked(fn, rec)
        counting += time.perf_counter() - t0
        if args.raw:
            batch.append(rec)
            if len(batch) == 5000:
                await raw.add_many(batch)
                batch = []
        if (n + 1) % args.flush_every == 0:
            t0 = time.perf_counter()
            await meter.flush()
            writing += time.perf_counter() - t0
            done = n + 1
            print(f"\r{done:,} records ({done / (time.perf_counter() - started):,.0f}/s)", end="", file=sys.stderr)
    if batch:
        await raw.add_many(batch)
    t0 = time.perf_counter()
    await meter.flush()
    writing += time.perf_counter() - t0
    print(file=sys.stderr)
    return counting, writing


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--owners", type=int, default=100)
    parser.add_argument("--flush-every", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--raw", action="store_true", help="also write every record to the invocations table")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = normalise_database_url(args.database_url or f"sqlite:///{tmp}/faas.db")
        engine = create_engine(url)
        await migrate(engine)
        store = UsageStore(engine)
        meter = UsageMeter(store, Prices())

        async def none(_: str) -> bool:
            return False

        service = UsageService(store, meter, Metering(), Prices(), function_exists=none, known_owner=none)
        wall = time.perf_counter()
        counting, writing = await generate(args, engine, meter)
        wall = time.perf_counter() - wall
        flushes = -(-args.records // args.flush_every)
        print(f"store: {engine.dialect.name}; {args.records:,} records of {args.functions} functions, "
              f"{args.owners} owners{' (raw records written too)' if args.raw else ''}; generated in {wall:.0f} s")
        print(f"meter: {counting / args.records * 1e6:.2f} us (wall) per invocation counted; "
              f"{flushes} rollup writes, {writing / flushes * 1000:.1f} ms each on average")
        # The invoke path's share alone, in CPU time (a loaded machine inflates wall times): one call per
        # invocation, on a warm meter.
        fn = functions(1, 1)[0]
        rec = record(fn, 1, Metering())
        t0 = time.process_time()
        for _ in range(200_000):
            meter.invoked(fn, rec)
        print(f"meter.invoked: {(time.process_time() - t0) / 200_000 * 1e6:.2f} us of CPU per call")
        await meter.flush()

        for by in ("function", "owner"):
            times = []
            for _ in range(args.reads):
                t0 = time.perf_counter()
                report = await service.report("2026-12", by)
                times.append(time.perf_counter() - t0)
            assert report["Total"]["Requests"] == args.records + 200_000, report["Total"]
            print(f"read 2026-12 by {by}: {len(report['Rows'])} rows, p50 {statistics.median(times) * 1000:.1f} ms, "
                  f"max {max(times) * 1000:.1f} ms ({args.reads} reads); total {report['Total']['Requests']:,} "
                  f"requests, {report['Total']['GBSeconds']:,.1f} GB-s, due ${report['Total']['Due']:,.2f}")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
