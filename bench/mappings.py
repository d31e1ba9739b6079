"""Event source mapping benchmark: messages per second from SendMessageBatch through a mapping to a function
that returns at once, beside the raw queue rates on the same store (bench/queues.py's), and the latency from
SendMessage to the start of the invocation on an idle queue.

Starts its own `faas serve` on a temporary data dir (SQLite, or PostgreSQL with --database-url) and, with
boto3's `sqs` and `lambda` clients (every request SigV4-signed and verified), in one run:
  - the raw rates: SendMessage, SendMessageBatch, ReceiveMessage + DeleteMessageBatch (bench/queues.py);
  - through a mapping (BatchSize 10) to a Python function that returns at once: --messages sent with
    SendMessageBatch from --clients threads while the mapping runs, over the time from the first send until
    the queue is empty (every message invoked and deleted); and the same number sent while the mapping is
    disabled, over the time from enabling it until the queue is empty (the mapping's own rate);
  - idle latency: one message at a time into an idle queue, from just before SendMessage to the first line
    the handler runs (time.time() in the container: the same kernel clock), p50 and p99.

Usage:  .venv/bin/python bench/mappings.py [--messages 10000] [--clients 4] [--concurrency 4] [--samples 50]
            [--database-url URL]
Needs: a running Docker engine and built runtime images (faas serve checks both at start).
"""

from __future__ import annotations

import argparse
import configparser
import io
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

from faas.security import sigv4

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queues import client, percentiles, rate, raw_throughput, start_server  # noqa: E402

ROLE = "bench-reader"
MARK = "BENCH-START "
HANDLER = f'''
import time

def handler(event, context):
    print({MARK!r} + repr(time.time()) + " " + event["Records"][0]["body"])
    return None
'''


def lambda_client(endpoint: str, data_dir: Path):  # type: ignore[no-untyped-def]
    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=parser["default"]["aws_access_key_id"],
                        aws_secret_access_key=parser["default"]["aws_secret_access_key"],
                        config=Config(retries={"max_attempts": 1}, read_timeout=60))


def native(endpoint: str, data_dir: Path, method: str, path: str, body: object | None = None) -> dict:
    """A signed call to the platform's native API (roles, logs) as the admin."""
    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    credentials = sigv4.Credentials(parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"])
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"}
    headers.update(sigv4.sign(credentials, "us-east-1", "lambda", method, endpoint + path, headers,
                              sigv4.payload_hash(data)))
    request = urllib.request.Request(endpoint + path, data=data if method != "GET" else None, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 409:  # exists already
            return {}
        raise


def deploy(endpoint: str, data_dir: Path, lam, sqs, name: str,  # type: ignore[no-untyped-def]
           concurrency: int) -> tuple[str, str]:
    """A function fed by a new queue of the same name: the queue's URL and the mapping's UUID."""
    native(endpoint, data_dir, "POST", "/faas/v1/roles", {"Name": ROLE})
    native(endpoint, data_dir, "PUT", f"/faas/v1/roles/{ROLE}/policies/queues", {"PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=f"arn:aws:iam::000000000000:role/{ROLE}",
                        Handler="app.handler", Code={"ZipFile": buffer.getvalue()}, MemorySize=128)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                              ScalingConfig={"MaximumConcurrency": concurrency})["UUID"]
    while lam.get_event_source_mapping(UUID=mapping)["State"] != "Enabled":
        time.sleep(0.05)
    return url, mapping


def empty(sqs, url: str) -> bool:  # type: ignore[no-untyped-def]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return counts["ApproximateNumberOfMessages"] == "0" and counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def wait_empty(sqs, url: str, timeout: float = 600) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not empty(sqs, url):
        if time.monotonic() > deadline:
            raise SystemExit("the mapping did not empty the queue in time")
        # Not more often: reading a queue's counts prunes its expired messages, a write that competes with
        # the pollers' own (the measured rates are within this step of the truth).
        time.sleep(0.1)


def through_mapping(endpoint: str, data_dir: Path, lam, sqs, url: str, mapping: str,  # type: ignore[no-untyped-def]
                    messages: int, clients_count: int) -> None:
    """Two rates: sending and processing at once (bounded by whichever is slower), and a backlog sent while
    the mapping was disabled, drained once it is enabled (the mapping's own rate)."""
    clients = [client(endpoint, data_dir) for _ in range(clients_count)]
    per_client = messages // clients_count // 10
    total = per_client * 10 * clients_count

    def send(c) -> None:  # type: ignore[no-untyped-def]
        for i in range(per_client):
            c.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m {i}.{j}"}
                                                        for j in range(10)])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients_count) as pool:
        list(pool.map(send, clients))
    sent_at = time.perf_counter()
    wait_empty(sqs, url)
    done = time.perf_counter()
    rate(f"SendMessageBatch -> mapping(10) -> function, {clients_count} clients", total, done - started)
    print(f"  (sending took {sent_at - started:.2f} s; the queue was empty {done - sent_at:.2f} s after the last send)")

    set_enabled(lam, mapping, False)
    with ThreadPoolExecutor(clients_count) as pool:
        list(pool.map(send, clients))
    started = time.perf_counter()
    set_enabled(lam, mapping, True)
    wait_empty(sqs, url)
    rate("a backlog drained by the mapping(10) -> function", total, time.perf_counter() - started)


def set_enabled(lam, mapping: str, enabled: bool) -> None:  # type: ignore[no-untyped-def]
    lam.update_event_source_mapping(UUID=mapping, Enabled=enabled)
    while lam.get_event_source_mapping(UUID=mapping)["State"] != ("Enabled" if enabled else "Disabled"):
        time.sleep(0.01)


def idle_latency(endpoint: str, data_dir: Path, sqs, url: str, name: str,  # type: ignore[no-untyped-def]
                 samples: int) -> None:
    sent: dict[str, float] = {}
    for i in range(samples + 3):  # the first few warm the function up
        time.sleep(0.2)  # idle: the pollers are back in their long poll
        key = f"sample-{i}"
        sent[key] = time.time()
        sqs.send_message(QueueUrl=url, MessageBody=key)
        wait_empty(sqs, url, timeout=60)
    started: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while len(started) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.5)  # invocation records are written every half second
        for run in native(endpoint, data_dir, "GET", f"/faas/v1/functions/{name}/logs?limit=1000")["Invocations"]:
            for line in run["Log"].splitlines():
                if MARK in line:
                    at, key = line.split(MARK, 1)[1].split(" ", 1)
                    started[key] = float(at)
    latencies = [(started[key] - sent[key]) * 1000 for key in list(sent)[3:] if key in started]
    print(f"{'SendMessage -> invocation start, idle queue':<52} {percentiles(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--raw-messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4, help="the mapping's MaximumConcurrency")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        proc, endpoint = start_server(data_dir, args.database_url)
        try:
            sqs, lam = client(endpoint, data_dir), lambda_client(endpoint, data_dir)
            raw_throughput(endpoint, data_dir, sqs.create_queue(QueueName="bench-raw")["QueueUrl"],
                           args.raw_messages, args.clients)
            url, mapping = deploy(endpoint, data_dir, lam, sqs, "bench-mapped", args.concurrency)
            sqs.send_message(QueueUrl=url, MessageBody="warm-up")  # the first invocation starts a container
            wait_empty(sqs, url)
            through_mapping(endpoint, data_dir, lam, sqs, url, mapping, args.messages, args.clients)
            idle_latency(endpoint, data_dir, sqs, url, "bench-mapped", args.samples)
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
