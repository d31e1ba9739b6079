"""SNS topic benchmark: publish throughput beside SendMessage on the same store, and the latency from a
Publish to the start of the function invocation it fans out to.

Starts its own `faas serve` on a temporary data dir (SQLite, or PostgreSQL with --database-url) and
measures, with boto3's `sns` and `sqs` clients (every request SigV4-signed and verified), in one run:
  - baseline: SendMessage to a queue, one message per request, from --clients threads;
  - Publish to a topic with one queue subscription (each publish records its delivery in one
    transaction; the deliveries source sends it to the queue), from --clients threads;
  - PublishBatch of 10 to the same topic;
  - Publish -> the subscribed queue's long-polling ReceiveMessage returns (p50, p99);
  - Publish -> start of the subscribed function's invocation, as the platform records it (p50, p99), with
    an idle topic: each publish waits for the previous invocation, so every one finds a warm environment.

Usage:  .venv/bin/python bench/topics.py [--messages 2000] [--clients 4] [--latency 50] [--database-url URL]
Needs: a running Docker engine and built runtime images (faas serve checks both at start).
"""

from __future__ import annotations

import argparse
import configparser
import datetime as dt
import io
import json
import statistics
import tempfile
import threading
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

from faas.security import sigv4
from queues import rate, start_server  # bench/queues.py

ACCOUNT = "000000000000"
NOOP = "def handler(event, context):\n    return None\n"


def credentials(data_dir: Path) -> sigv4.Credentials:
    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    return sigv4.Credentials(parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"])


def aws(service: str, endpoint: str, data_dir: Path):  # type: ignore[no-untyped-def]
    admin = credentials(data_dir)
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=admin.access_key_id, aws_secret_access_key=admin.secret_access_key,
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=64, read_timeout=120))


def invocations(endpoint: str, admin: sigv4.Credentials, function: str) -> list[dict]:
    """The function's recent invocations, with the time each started, from the platform's logs API."""
    url = f"{endpoint}/faas/v1/functions/{function}/logs?limit=1000"
    headers = sigv4.sign(admin, "us-east-1", "lambda", "GET", url, {}, sigv4.payload_hash(b""))
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
        return json.loads(answer.read())["Invocations"]


def percentiles(label: str, samples: list[float]) -> None:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{label:<60} p50 {statistics.median(samples):.1f} ms, p99 {p99:.1f} ms ({len(samples)} samples)")


def drain(sqs, url: str, count: int) -> None:  # type: ignore[no-untyped-def]
    got = 0
    while got < count:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
            got += len(messages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--latency", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        proc, endpoint = start_server(data_dir, args.database_url)
        try:
            sqs = aws("sqs", endpoint, data_dir)
            sns_clients = [aws("sns", endpoint, data_dir) for _ in range(args.clients)]
            sqs_clients = [aws("sqs", endpoint, data_dir) for _ in range(args.clients)]
            sns = sns_clients[0]
            per_client = args.messages // args.clients // 10 * 10
            count = per_client * args.clients

            direct = sqs.create_queue(QueueName="direct")["QueueUrl"]
            fanned = sqs.create_queue(QueueName="fanned")["QueueUrl"]
            topic = sns.create_topic(Name="bench")["TopicArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:fanned",
                          Attributes={"RawMessageDelivery": "true"})

            def send(c) -> None:  # type: ignore[no-untyped-def]
                for i in range(per_client):
                    c.send_message(QueueUrl=direct, MessageBody=f"m{i}")

            def publish(c) -> None:  # type: ignore[no-untyped-def]
                for i in range(per_client):
                    c.publish(TopicArn=topic, Message=f"m{i}")

            def publish_batches(c) -> None:  # type: ignore[no-untyped-def]
                for i in range(per_client // 10):
                    c.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                        {"Id": str(j), "Message": f"b{i}.{j}"} for j in range(10)])

            for label, work, clients in (("baseline: SendMessage (1 per request)", send, sqs_clients),
                                         ("Publish (1 per request), 1 queue subscription", publish, sns_clients),
                                         ("PublishBatch (10 per request), 1 queue subscription", publish_batches,
                                          sns_clients)):
                started = time.perf_counter()
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(work, clients))
                rate(f"{label}, {args.clients} clients", count, time.perf_counter() - started)
                if work is not send:  # every published message reaches the queue
                    started = time.perf_counter()
                    drain(sqs, fanned, count)
                    rate("  ... and delivered to the queue, drained after", count, time.perf_counter() - started)

            latencies = []
            receiver = aws("sqs", endpoint, data_dir)
            for _ in range(args.latency):
                got: list[tuple[float, dict]] = []
                sending = threading.Event()
                handler = receiver.meta.events.register("before-send.sqs.ReceiveMessage", lambda **_: sending.set())

                def wait() -> None:
                    answer = receiver.receive_message(QueueUrl=fanned, WaitTimeSeconds=20)
                    got.append((time.perf_counter(), answer))

                waiter = threading.Thread(target=wait)
                waiter.start()
                sending.wait(10)
                time.sleep(0.05)  # let the receive reach its wait
                receiver.meta.events.unregister("before-send.sqs.ReceiveMessage", handler)
                started = time.perf_counter()
                sns.publish(TopicArn=topic, Message="wake")
                waiter.join(30)
                returned, answer = got[0]
                latencies.append((returned - started) * 1000)
                for message in answer.get("Messages", []):
                    sqs.delete_message(QueueUrl=fanned, ReceiptHandle=message["ReceiptHandle"])
            percentiles("Publish start -> subscribed queue's long poll returns", latencies)

            lam = aws("lambda", endpoint, data_dir)
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as z:
                z.writestr("app.py", NOOP)
            lam.create_function(FunctionName="subscriber", Runtime="python3.13", Handler="app.handler",
                                Role=f"arn:aws:iam::{ACCOUNT}:role/faas-default",
                                Code={"ZipFile": archive.getvalue()})
            function_topic = sns.create_topic(Name="to-function")["TopicArn"]
            lam.add_permission(FunctionName="subscriber", StatementId="sns", Action="lambda:InvokeFunction",
                               Principal="sns.amazonaws.com", SourceArn=function_topic)
            sns.subscribe(TopicArn=function_topic, Protocol="lambda",
                          Endpoint=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:subscriber")
            admin = credentials(data_dir)
            latencies = []
            for n in range(args.latency + 1):
                before = len(invocations(endpoint, admin, "subscriber"))
                sent_at = dt.datetime.now(dt.timezone.utc)
                sns.publish(TopicArn=function_topic, Message=f"n{n}")
                while len(found := invocations(endpoint, admin, "subscriber")) == before:
                    time.sleep(0.01)
                started = max(dt.datetime.fromisoformat(run["Start"]) for run in found)
                if n:  # the first one starts the environment: a cold start, not what is measured
                    latencies.append((started - sent_at).total_seconds() * 1000)
            percentiles("Publish sent -> the function's invocation starts (warm)", latencies)
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
