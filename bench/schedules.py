"""Schedule benchmark: the lag from a schedule's due time to the start of the invocation it fires, p50 and p99
over --firings firings, on the controllable clock (FAAS_CLOCK_FILE) so that a hundred minutes pass in two.

Starts its own `faas serve` on a temporary data dir (SQLite, or PostgreSQL with --database-url) with a clock
file, deploys a Python function that prints time.time() and the due time it was fired for, and creates one
schedule, cron(* * * * ? *), that invokes it every minute. For each firing the clock file is set to one second
before the next due time: the node sleeps until the due time as it would on the real clock (its last sleep is
the exact remainder). The due time falls at the file's write time + 1 s (the clock advances with real time from
the file's mtime); the lag is the handler's time.time() (same kernel clock) minus that instant. It covers the
firing (the compare-and-swap that queues the delivery), the delivery (the role check and the asynchronous
invocation's enqueue) and the asynchronous invoker handing it to a warm environment.

Usage:  .venv/bin/python bench/schedules.py [--firings 100] [--database-url URL]
Needs: a running Docker engine and built runtime images (faas serve checks both at start).
"""

from __future__ import annotations

import argparse
import configparser
import datetime as dt
import io
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mappings import lambda_client, native  # noqa: E402
from queues import percentiles  # noqa: E402

ROLE = "bench-scheduler"
MARK = "BENCH-FIRED "
HANDLER = f'''
import time

def handler(event, context):
    print({MARK!r} + repr(time.time()) + " " + event["due"])
'''
START = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def start_server(data_dir: Path, clock: Path, database_url: str | None) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
    env.update({"FAAS_DATA_DIR": str(data_dir), "FAAS_PORT": "0", "FAAS_CLOCK_FILE": str(clock)})
    if database_url:
        env["FAAS_DATABASE_URL"] = database_url
    proc = subprocess.Popen([sys.executable, "-m", "faas", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        endpoint_file = data_dir / "endpoint"
        if endpoint_file.exists():
            endpoint = endpoint_file.read_text().strip()
            try:
                with urllib.request.urlopen(endpoint + "/health", timeout=2):
                    return proc, endpoint
            except OSError:
                pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("faas serve did not become healthy")


def fired(endpoint: str, data_dir: Path, name: str) -> dict[str, float]:
    """Due time -> when the handler started, from the function's logs."""
    found = {}
    for run in native(endpoint, data_dir, "GET", f"/faas/v1/functions/{name}/logs?limit=1000")["Invocations"]:
        for line in run["Log"].splitlines():
            if MARK in line:
                at, due = line.split(MARK, 1)[1].split(" ", 1)
                found[due.strip()] = float(at)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--firings", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, clock = Path(tmp) / "data", Path(tmp) / "now"
        clock.write_text(START.isoformat())
        proc, endpoint = start_server(data_dir, clock, args.database_url)
        try:
            native(endpoint, data_dir, "POST", "/faas/v1/roles", {"Name": ROLE})
            native(endpoint, data_dir, "PUT", f"/faas/v1/roles/{ROLE}/policies/run", {"PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                        "Resource": "*"}]}})
            role = f"arn:aws:iam::000000000000:role/{ROLE}"
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("app.py", HANDLER)
            name = "bench-scheduled"
            lam = lambda_client(endpoint, data_dir)
            lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                                Code={"ZipFile": buffer.getvalue()}, MemorySize=128)
            lam.invoke(FunctionName=name, Payload=b'{"due": "warm-up"}')  # a warm environment to fire into
            credentials = configparser.ConfigParser()
            credentials.read(data_dir / "credentials")
            scheduler = boto3.client("scheduler", endpoint_url=endpoint, region_name="us-east-1",
                                     aws_access_key_id=credentials["default"]["aws_access_key_id"],
                                     aws_secret_access_key=credentials["default"]["aws_secret_access_key"],
                                     config=Config(retries={"max_attempts": 1}))
            scheduler.create_schedule(
                Name="every-minute", ScheduleExpression="cron(* * * * ? *)", FlexibleTimeWindow={"Mode": "OFF"},
                Target={"Arn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}", "RoleArn": role,
                        "Input": '{"due": "<aws.scheduler.scheduled-time>"}'})
            due_at: dict[str, float] = {}  # due time -> the real instant the node's clock reached it
            for minute in range(1, args.firings + 1):
                due = START + dt.timedelta(minutes=minute)
                clock.write_text((due - dt.timedelta(seconds=1)).isoformat())
                key = due.strftime("%Y-%m-%dT%H:%M:%SZ")
                due_at[key] = clock.stat().st_mtime + 1.0
                deadline = time.monotonic() + 30
                while key not in fired(endpoint, data_dir, name):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the firing due at {key} never started")
                    time.sleep(0.5)  # invocation records are written every half second
            started = fired(endpoint, data_dir, name)
            lags = [(started[key] - at) * 1000 for key, at in due_at.items()]
            store = "PostgreSQL" if args.database_url else "SQLite"
            print(f"{'due time -> invocation start (' + store + ')':<52} {percentiles(lags)}")
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
