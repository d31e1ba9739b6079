"""SQS queue benchmark: raw throughput of the queue store through the API, and the long poll's wake-up.

Starts its own `faas serve` on a temporary data dir (SQLite, or PostgreSQL with --database-url) and
measures, with boto3's `sqs` client (every request SigV4-signed and verified), in one run:
  - SendMessage, one message per request, from --clients threads;
  - SendMessageBatch of 10, from --clients threads (messages/s);
  - ReceiveMessage of up to 10 + DeleteMessageBatch, draining what was sent (messages/s);
  - the latency from the start of a SendMessage to the return of a ReceiveMessage already long-polling
    on the same queue (p50, p99): the in-process wake-up, not the once-a-second re-check.

Usage:  .venv/bin/python bench/queues.py [--messages 5000] [--clients 4] [--wakes 50] [--database-url URL]
Needs: a running Docker engine and built runtime images (faas serve checks both at start).
"""

from __future__ import annotations

import argparse
import configparser
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config


def start_server(data_dir: Path, database_url: str | None) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
    env.update({"FAAS_DATA_DIR": str(data_dir), "FAAS_PORT": "0"})
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


def client(endpoint: str, data_dir: Path):  # type: ignore[no-untyped-def]
    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=parser["default"]["aws_access_key_id"],
                        aws_secret_access_key=parser["default"]["aws_secret_access_key"],
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=64, read_timeout=60))


def rate(label: str, count: int, seconds: float) -> None:
    print(f"{label:<52} {count / seconds:>9,.0f} messages/s  ({count} in {seconds:.2f} s)")


def raw_throughput(endpoint: str, data_dir: Path, url: str, messages: int, clients_count: int) -> None:
    """Print the raw rates on the queue at `url`: SendMessage, SendMessageBatch, and ReceiveMessage +
    DeleteMessageBatch draining what they sent (bench/mappings.py prints these beside its own)."""
    clients = [client(endpoint, data_dir) for _ in range(clients_count)]
    per_client = messages // clients_count // 10 * 10

    def send_singles(c) -> None:  # type: ignore[no-untyped-def]
        for i in range(per_client // 10):
            c.send_message(QueueUrl=url, MessageBody=f"single {i}")

    def send_batches(c) -> None:  # type: ignore[no-untyped-def]
        for i in range(per_client // 10):
            c.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": f"batch {i}.{j}"} for j in range(10)])

    drained = [0] * clients_count
    total = per_client * clients_count + per_client // 10 * clients_count

    def drain(index: int) -> None:
        c = clients[index]
        while sum(drained) < total:
            received = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if received:
                c.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)])
                drained[index] += len(received)

    for label, work, count in (
            ("SendMessage (1 per request)", send_singles, per_client // 10 * clients_count),
            ("SendMessageBatch (10 per request)", send_batches, per_client * clients_count)):
        started = time.perf_counter()
        with ThreadPoolExecutor(clients_count) as pool:
            list(pool.map(work, clients))
        rate(f"{label}, {clients_count} clients", count, time.perf_counter() - started)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients_count) as pool:
        list(pool.map(drain, range(clients_count)))
    rate(f"ReceiveMessage(10) + DeleteMessageBatch, {clients_count} clients", sum(drained),
         time.perf_counter() - started)


def percentiles(latencies: list[float]) -> str:
    latencies = sorted(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms ({len(latencies)} samples)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--wakes", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        proc, endpoint = start_server(data_dir, args.database_url)
        try:
            sqs = client(endpoint, data_dir)
            url = sqs.create_queue(QueueName="bench")["QueueUrl"]
            raw_throughput(endpoint, data_dir, url, args.messages, args.clients)

            latencies = []
            receiver = client(endpoint, data_dir)
            for _ in range(args.wakes):
                got: list[float] = []
                sending = threading.Event()
                handler = receiver.meta.events.register("before-send.sqs.ReceiveMessage",
                                                        lambda **_: sending.set())
                waiter = threading.Thread(target=lambda: (receiver.receive_message(QueueUrl=url, WaitTimeSeconds=20),
                                                          got.append(time.perf_counter())))
                waiter.start()
                sending.wait(10)
                time.sleep(0.05)  # let the receive reach its wait: what is measured is the wake-up
                receiver.meta.events.unregister("before-send.sqs.ReceiveMessage", handler)
                started = time.perf_counter()
                sqs.send_message(QueueUrl=url, MessageBody="wake")
                waiter.join(30)
                latencies.append((got[0] - started) * 1000)
                for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            print(f"{'SendMessage start -> long-polling ReceiveMessage returns':<52} {percentiles(latencies)}")
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
