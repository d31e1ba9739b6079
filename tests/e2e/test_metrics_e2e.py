"""GET /metrics and `faas top` against a real `faas serve`: real invocations (success, error, cold start,
timeout, throttle, an async event that waits, a mapping's queue that waits) scraped and read with
prometheus_client's own text parser; a key allowed only faas:GetMetrics scrapes (signed, and with a bearer
token as Prometheus sends it), a key without the action is refused; `faas top` shows a function's rates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import ROLE, Server, make_zip, unique, wait_for
from tests.e2e.test_event_source_mappings_e2e import READER_ARN, with_reader_role
from tests.e2e.test_identity_e2e import bearer, mint, signed
from tests.e2e.test_security_e2e import assert_error, make_principal
from tests.e2e.test_sqs_e2e import sqs_client

pytestmark = pytest.mark.docker

CODE = """
import time
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    time.sleep(event.get("sleep", 0))
    return "ok"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_reader_role(Server(tmp_path_factory.mktemp("faas") / "data",
                                  extra_env={"FAAS_PREWARM_PER_RUNTIME": "0"}).start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


def create(lam, name: str, timeout: int = 30, role: str = ROLE) -> None:  # type: ignore[no-untyped-def]
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": CODE})}, Timeout=timeout)
    wait_for(lambda: lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active")


def invoke(lam, name: str, event: dict) -> dict:  # type: ignore[no-untyped-def]
    return lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())


def scrape(server: Server, credentials: Credentials | None = None) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, parsed by prometheus_client: (name, labels) -> value."""
    status, headers, body = server.request("GET", "/metrics", credentials=credentials)
    assert status == 200, body[:500]
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def scrape_until(server: Server, predicate) -> dict:  # type: ignore[no-untyped-def]
    """The first scrape `predicate` accepts, polled until a deadline."""
    def accepted() -> dict | None:
        samples = scrape(server)
        return samples if predicate(samples) else None
    return wait_for(accepted)


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_scrape_after_real_invocations(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name, throttled, waiting = unique("metered"), unique("throttled"), unique("waiting")
    create(lam, name, timeout=2, role=READER_ARN)  # a role that may read queues, for the mapping below
    for fn in (throttled, waiting):
        create(lam, fn)
        lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)

    assert invoke(lam, name, {})["StatusCode"] == 200  # cold
    assert invoke(lam, name, {})["StatusCode"] == 200  # warm
    assert invoke(lam, name, {"fail": True})["FunctionError"] == "Unhandled"
    # A slow invocation: running, it is a concurrent execution and a busy environment; then it times out.
    slow = threading.Thread(target=invoke, args=(lam, name, {"sleep": 10}))
    slow.start()
    running = scrape_until(server, lambda s: value(s, "faas_concurrent_executions", faas_name=name) == 1)
    assert value(running, "faas_environments", state="busy", runtime="python3.13") >= 1
    slow.join(60)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        invoke(lam, throttled, {})
    # An async event for a function that may not run waits in the queue, growing older.
    assert lam.invoke(FunctionName=waiting, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    # A disabled mapping's queue fills up: its backlog and lag.
    sqs = sqs_client(server)
    queue_url = sqs.create_queue(QueueName=unique("lagging"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn, Enabled=False)["UUID"]

    source = {"uuid": mapping, "faas_name": name, "event_source": queue_arn}
    samples = scrape_until(server, lambda s: (value(s, "faas_async_event_age_seconds") or 0) > 0
                           and (value(s, "faas_event_source_lag_seconds", **source) or 0) > 0)
    assert value(samples, "faas_invocations_total", faas_name=name, outcome="success") == 2
    assert value(samples, "faas_invocations_total", faas_name=name, outcome="error") == 1
    assert value(samples, "faas_invocations_total", faas_name=name, outcome="timeout") == 1
    assert value(samples, "faas_errors_total", faas_name=name) == 2
    assert value(samples, "faas_timeouts_total", faas_name=name) == 1
    assert value(samples, "faas_coldstarts_total", faas_name=name) == 1
    assert value(samples, "faas_invoke_duration_seconds_count", faas_name=name) == 4
    assert value(samples, "faas_invoke_duration_seconds_sum", faas_name=name) >= 2.0  # the timeout's 2 s
    assert value(samples, "faas_init_duration_seconds_count", faas_name=name) == 1
    # boto3 retries a 429 once: every refusal the caller got is one throttle of the function.
    refused = value(samples, "faas_api_requests_total", operation="lambda:InvokeFunction", status="429")
    assert refused >= 1 and value(samples, "faas_throttles_total", faas_name=throttled,
                                  reason="ReservedFunctionConcurrentInvocationLimitExceeded") == refused
    # The async event for `waiting` is throttled and retried in the background: counted there, not as a 429.
    assert value(samples, "faas_throttles_total", faas_name=waiting,
                 reason="ReservedFunctionConcurrentInvocationLimitExceeded") >= 1
    assert value(samples, "faas_invocations_total", faas_name=throttled, outcome="success") is None
    assert value(samples, "faas_concurrent_executions", faas_name=name) is None  # nothing runs now
    assert value(samples, "faas_async_events") == 1
    assert value(samples, "faas_event_source_backlog", **source) == 2
    assert value(samples, "faas_api_requests_total", operation="lambda:InvokeFunction", status="200") >= 4
    assert value(samples, "faas_api_requests_total", operation="sqs:SendMessage", status="200") == 2


def test_a_narrow_key_scrapes_and_a_key_without_the_action_is_refused(server: Server) -> None:
    scraper = make_principal(server, unique("scraper"), [
        {"Effect": "Allow", "Action": ["faas:GetMetrics", "faas:CreateToken"], "Resource": "*"}])
    assert "faas_invocations" in signed(server, scraper, "GET", "/metrics")[2].decode()
    token = mint(server, scraper)["Token"]  # what Prometheus sends: authorization.credentials_file
    status, _, body = bearer(server, token, "/metrics")
    assert status == 200 and b"# TYPE faas_api_requests_total counter" in body
    # The scraper can read metrics and nothing else.
    assert_error(signed(server, scraper, "GET", "/2015-03-31/functions/"), 403, "AccessDeniedException")

    other = make_principal(server, unique("reader"), [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}])
    message = json.loads(signed(server, other, "GET", "/metrics")[2])["Message"]
    assert_error(signed(server, other, "GET", "/metrics"), 403, "AccessDeniedException")
    assert "faas:GetMetrics" in message and ":metrics" in message
    assert_error(server.request("GET", "/metrics", sign=False), 403, "UnrecognizedClientException")


def test_faas_top_shows_each_functions_rates(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("topped")
    create(lam, name)
    stop = threading.Event()

    def keep_invoking() -> None:
        while not stop.is_set():
            invoke(lam, name, {})

    busy = threading.Thread(target=keep_invoking)
    busy.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
        env.update(FAAS_ENDPOINT_URL=server.endpoint, FAAS_DATA_DIR=str(server.data_dir), COLUMNS="200")
        done = subprocess.run([sys.executable, "-m", "faas", "top", "--count", "2", "--interval", "1"], env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        busy.join(60)
    assert done.returncode == 0, done.stderr
    tables = done.stdout.split("faas top: ")
    assert len(tables) == 3, done.stdout  # one table per refresh
    for table in tables[1:]:
        assert "INVOKES/S" in table and "P99 MS" in table
        line = next(line for line in table.splitlines() if name in line)
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        assert cells[0] == name and float(cells[1]) > 0 and cells[2] == "0.0", line
        assert float(cells[4]) > 0  # a p99 in milliseconds

    bad = subprocess.run([sys.executable, "-m", "faas", "top", "--count", "0"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--count must be at least 1" in bad.stderr
