"""Event bus benchmark: PutEvents throughput beside SendMessage's on the same store, and the latency from
PutEvents to the start of the function a rule invokes.

Starts its own `faas serve` on a temporary data dir (SQLite, or PostgreSQL with --database-url) and, with
boto3's `events`, `sqs` and `lambda` clients (every request SigV4-signed and verified), in one run:
  - SendMessage, one message per request, from --clients threads (the raw queue rate);
  - PutEvents with one entry that no rule matches (accepted, nothing to deliver);
  - PutEvents with one entry, and with ten, from --clients threads, on a bus with one rule that matches
    every event and has one queue target: each accepted event is matched and its delivery written (one
    transaction per request) before the answer, then delivered to the queue by the delivery source;
  - latency: one event at a time, from just before PutEvents to the first line the function (the target
    of a matching rule, an asynchronous invocation) runs (time.time() in the container: the same kernel
    clock), p50 and p99.

Usage:  .venv/bin/python bench/events.py [--messages 2000] [--clients 4] [--samples 50] [--database-url URL]
Needs: a running Docker engine and built runtime images (faas serve checks both at start). A --database-url
must name an empty database made for the run (the server's temporary master key seals the store, so a
second run cannot start on it; drop it afterwards).
"""

from __future__ import annotations

import argparse
import configparser
import io
import json
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mappings import lambda_client, native  # noqa: E402
from queues import client, percentiles, rate, start_server  # noqa: E402

ACCOUNT = "000000000000"
ROLE = "bench-sender"
MARK = "BENCH-START "
HANDLER = f'''
import time

def handler(event, context):
    print({MARK!r} + repr(time.time()) + " " + event["detail"]["key"])
    return None
'''


def events_client(endpoint: str, data_dir: Path):  # type: ignore[no-untyped-def]
    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    return boto3.client("events", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=parser["default"]["aws_access_key_id"],
                        aws_secret_access_key=parser["default"]["aws_secret_access_key"],
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=64, read_timeout=60))


def in_threads(clients_count: int, work) -> float:  # type: ignore[no-untyped-def]
    """Run work(thread index) in each of `clients_count` threads; the seconds it took."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients_count) as pool:
        list(pool.map(work, range(clients_count)))
    return time.perf_counter() - started


def throughput(endpoint: str, data_dir: Path, messages: int, clients_count: int) -> None:
    sqs = client(endpoint, data_dir)
    raw_url = sqs.create_queue(QueueName="bench-raw")["QueueUrl"]
    sink_url = sqs.create_queue(QueueName="bench-sink")["QueueUrl"]
    events = events_client(endpoint, data_dir)
    events.put_rule(Name="bench-all", EventPattern=json.dumps({"source": ["bench.throughput"]}))
    events.put_targets(Rule="bench-all", Targets=[{"Id": "sink", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench-sink",
                                                   "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"}])
    sqs_clients = [client(endpoint, data_dir) for _ in range(clients_count)]
    events_clients = [events_client(endpoint, data_dir) for _ in range(clients_count)]
    per_client = messages // clients_count // 10 * 10
    total = per_client * clients_count
    entry = {"Source": "bench.throughput", "DetailType": "tick", "Detail": json.dumps({"n": 1})}
    unmatched = {**entry, "Source": "bench.nobody"}

    seconds = in_threads(clients_count, lambda i: [sqs_clients[i].send_message(QueueUrl=raw_url, MessageBody="m")
                                                   for _ in range(per_client)])
    rate(f"SendMessage, 1 a request, {clients_count} clients", total, seconds)
    seconds = in_threads(clients_count, lambda i: [events_clients[i].put_events(Entries=[unmatched])
                                                   for _ in range(per_client)])
    rate("PutEvents, 1 entry a request, no rule matches", total, seconds)
    seconds = in_threads(clients_count, lambda i: [events_clients[i].put_events(Entries=[entry])
                                                   for _ in range(per_client)])
    rate(f"PutEvents, 1 entry a request, {clients_count} clients", total, seconds)
    seconds = in_threads(clients_count, lambda i: [events_clients[i].put_events(Entries=[entry] * 10)
                                                   for _ in range(per_client // 10)])
    rate(f"PutEvents, 10 entries a request, {clients_count} clients", total, seconds)
    started = time.perf_counter()
    delivered = 0
    while delivered < 2 * total:  # every event reached the sink queue: the delivery source kept up
        counts = sqs.get_queue_attributes(QueueUrl=sink_url, AttributeNames=["ApproximateNumberOfMessages"])
        delivered = int(counts["Attributes"]["ApproximateNumberOfMessages"])
        if time.perf_counter() - started > 600:
            raise SystemExit(f"only {delivered} of {2 * total} events reached the queue")
        time.sleep(0.1)
    print(f"  (all {2 * total} events were in the target queue {time.perf_counter() - started:.2f} s after the last PutEvents)")


def deploy(endpoint: str, data_dir: Path, lam, events) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    lam.create_function(FunctionName="bench-target", Runtime="python3.13", Role=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
                        Handler="app.handler", Code={"ZipFile": buffer.getvalue()}, MemorySize=128)
    rule_arn = events.put_rule(Name="bench-latency", EventPattern=json.dumps({"source": ["bench.latency"]}))["RuleArn"]
    lam.add_permission(FunctionName="bench-target", StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)
    events.put_targets(Rule="bench-latency", Targets=[
        {"Id": "fn", "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench-target"}])


def latency(endpoint: str, data_dir: Path, events, samples: int) -> None:  # type: ignore[no-untyped-def]
    sent: dict[str, float] = {}
    started: dict[str, float] = {}

    def collect() -> None:
        for run in native(endpoint, data_dir, "GET", "/faas/v1/functions/bench-target/logs?limit=1000")["Invocations"]:
            for line in (run.get("Log") or "").splitlines():
                if MARK in line:
                    at, key = line.split(MARK, 1)[1].split(" ", 1)
                    started[key] = float(at)

    for i in range(samples + 3):  # the first few warm the function up
        key = f"sample-{i}"
        sent[key] = time.time()
        events.put_events(Entries=[{"Source": "bench.latency", "DetailType": "tick",
                                    "Detail": json.dumps({"key": key})}])
        deadline = time.monotonic() + 60
        while key not in started:  # one at a time: each event finds the delivery source and the function idle
            if time.monotonic() > deadline:
                raise SystemExit(f"{key} never started the function")
            time.sleep(0.05)
            collect()
    latencies = [(started[key] - sent[key]) * 1000 for key in list(sent)[3:]]
    print(f"{'PutEvents -> function invocation start, idle':<52} {percentiles(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        proc, endpoint = start_server(data_dir, args.database_url)
        try:
            native(endpoint, data_dir, "POST", "/faas/v1/roles", {"Name": ROLE})
            native(endpoint, data_dir, "PUT", f"/faas/v1/roles/{ROLE}/policies/queues", {"PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage",
                                                        "Resource": "*"}]}})
            events = events_client(endpoint, data_dir)
            throughput(endpoint, data_dir, args.messages, args.clients)
            deploy(endpoint, data_dir, lambda_client(endpoint, data_dir), events)
            latency(endpoint, data_dir, events, args.samples)
        finally:
            proc.terminate()


if __name__ == "__main__":
    main()
