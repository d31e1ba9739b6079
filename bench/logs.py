"""CloudWatch Logs reads over many invocation records: how long the Logs API's reads take in the service, on a
SQLite file (and PostgreSQL with --postgres URL), built by the migrations as `faas serve` builds it.

Generates --records invocation records of one function (5 log lines each, over 50 streams, one a second back
from now) beside as many of 9 other functions, then times, in-process (LogService, the code behind the API):
  - FilterLogEvents, first page of 100 events, no pattern;
  - FilterLogEvents with a term no event holds: one page scans its bound of 2,000 records and answers a token;
  - FilterLogEvents from the last minute (what each `aws logs tail --follow` poll asks);
  - FilterLogEvents with a JSON pattern, first page of 100;
  - GetLogEvents, the newest 100 events of one stream (its default, backwards from the end);
  - DescribeLogStreams (one GROUP BY over the function's records).
Each figure is the median of --repeat runs.

Usage:  .venv/bin/python bench/logs.py [--records 100000] [--repeat 5] [--postgres URL] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faas.model import InvocationRecord  # noqa: E402
from faas.services.logs import LogService  # noqa: E402
from faas.settings import normalise_database_url  # noqa: E402
from faas.store.db import create_engine, migrate  # noqa: E402
from faas.store.invocations import InvocationStore  # noqa: E402
from faas.store.logs import LogStore  # noqa: E402

FUNCTION = "orders"
GROUP = f"/aws/lambda/{FUNCTION}"
STREAMS = 50
OTHERS = 9


def records(count: int, now: dt.datetime) -> list[InvocationRecord]:
    made = []
    for n in range(count):
        for function in [FUNCTION] + [f"other-{n % OTHERS}"]:
            rid = f"{function}-{n:09d}"
            body = f"processing order {n}\n{json.dumps({'level': 'ERROR' if n % 100 == 0 else 'INFO', 'n': n})}\n"
            made.append(InvocationRecord(
                request_id=rid, function_name=function, started_at=now - dt.timedelta(seconds=count - n),
                duration_ms=12.0, billed_duration_ms=100, memory_size=128, max_memory_used_mb=40,
                init_duration_ms=None, cold=False, outcome="success", error_type=None,
                log=f"START RequestId: {rid} Version: $LATEST\n{body}END RequestId: {rid}\nREPORT RequestId: {rid}\n",
                log_stream=f"2026/12/01/[$LATEST]{n % STREAMS:032x}"))
    return made


async def timed(repeat: int, call) -> float:  # type: ignore[no-untyped-def]
    """The median of `repeat` runs of `call`, in milliseconds."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


async def run(url: str, count: int, repeat: int) -> list[tuple[str, float, str]]:
    engine = create_engine(normalise_database_url(url))
    try:
        await migrate(engine)
        now = dt.datetime.now(dt.timezone.utc)
        store = InvocationStore(engine)
        made = records(count, now)
        for start in range(0, len(made), 5000):
            await store.add_many(made[start:start + 5000])
        logs = LogService(LogStore(engine), region="us-east-1", account_id="000000000000")
        last_minute = int((now - dt.timedelta(minutes=1)).timestamp() * 1000)
        stream = f"2026/12/01/[$LATEST]{7:032x}"
        cases = [
            ("FilterLogEvents, first 100 events", lambda: logs.filter_events(GROUP, {"limit": 100})),
            ("FilterLogEvents, a term nothing matches (one page)",
             lambda: logs.filter_events(GROUP, {"filterPattern": "nothing-matches"})),
            ("FilterLogEvents, the last minute (a tail --follow poll)",
             lambda: logs.filter_events(GROUP, {"startTime": last_minute})),
            ("FilterLogEvents, { $.level = \"ERROR\" }, first 100",
             lambda: logs.filter_events(GROUP, {"filterPattern": '{ $.level = "ERROR" }', "limit": 100})),
            ("GetLogEvents, newest 100 of a stream",
             lambda: logs.get_events(GROUP, {"logStreamName": stream, "limit": 100})),
            ("DescribeLogStreams", lambda: logs.describe_streams(GROUP, {})),
        ]
        results = []
        for what, call in cases:
            answer = await call()
            shape = (f"{len(answer['events'])} events" if isinstance(answer, dict) and "events" in answer
                     else f"{len(answer[0])} streams")
            results.append((what, await timed(repeat, call), shape))
        return results
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records of the measured function")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", metavar="URL", help="also measure on this (empty) PostgreSQL database")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        databases = [("SQLite", f"sqlite:///{directory}/faas.db")]
        if args.postgres:
            databases.append(("PostgreSQL", args.postgres))
        for name, url in databases:
            results = asyncio.run(run(url, args.records, args.repeat))
            if args.markdown:
                print(f"\n{name}, {args.records:,} records of the function (and as many of others)\n")
                print("| read | median | answer |\n| --- | ---: | --- |")
                for what, ms, shape in results:
                    print(f"| {what} | {ms:.1f} ms | {shape} |")
            else:
                for what, ms, shape in results:
                    print(f"{name:10} {what:58} {ms:8.1f} ms  ({shape})")


if __name__ == "__main__":
    main()
