"""Usage and billing end to end against one real `faas serve`: usage per function and per owner following
the billing settings (1 ms steps, init billed) and priced after the free tier, through the REST API and
`faas usage` (table, JSON, CSV); asynchronous retries and event-source batches billed as Lambda bills them;
budgets that throttle an owner under concurrency; and every bad input refused with nothing stored lost."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import ROLE, Server, unique, wait_for
from tests.e2e.test_cli_e2e import cli_env
from tests.e2e.test_config_security_e2e import allow, create, lambda_as, native, principal
from tests.e2e.test_event_source_mappings_e2e import READER_ARN, queue, with_reader_role
from tests.e2e.test_sqs_e2e import sqs_client

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
FREE_REQUESTS = 2
FREE_GB_SECONDS = 0.01
SETTINGS = {"FAAS_BILLING_STEP_MS": "1", "FAAS_BILL_INIT": "true", "FAAS_ASYNC_RETRY_BASE_S": "1",
            "FAAS_FREE_REQUESTS": str(FREE_REQUESTS), "FAAS_FREE_GB_SECONDS": str(FREE_GB_SECONDS)}
PRICE_REQUEST, PRICE_GB_SECOND = 0.20 / 1_000_000, 0.0000166667

HANDLER = '''
import time

def handler(event, context):
    if isinstance(event, dict) and "Records" in event:
        print("batch of %d" % len(event["Records"]))
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(event["sleep"])
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_reader_role(Server(tmp_path_factory.mktemp("faas") / "data", extra_env=SETTINGS).start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


@pytest.fixture(scope="module")
def faas(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("home")

    def faas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", *args], env=cli_env(server.data_dir, home), cwd=home,
                              capture_output=True, text=True, timeout=120)
    return faas


@pytest.fixture(scope="module")
def dev(server: Server):  # type: ignore[no-untyped-def]
    """A second owner: a principal that may create and invoke its own functions (dev-*)."""
    credentials = principal(server, [
        allow(["lambda:CreateFunction", "lambda:InvokeFunction"], f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:dev-*"),
        allow("iam:PassRole", ROLE)])
    arn = next(p["Arn"] for p in native(server, "GET", "/faas/v1/principals")["Principals"]
               if p["Name"] != "admin" and p["Name"].startswith("user-"))
    return credentials, arn


def usage(server: Server, **query: str) -> dict[str, Any]:
    return server.get_json("/faas/v1/usage" + ("?" + urllib.parse.urlencode(query) if query else ""))


def row(report: dict[str, Any], **match: str) -> dict[str, Any] | None:
    return next((r for r in report["Rows"] if all(r.get(k) == v for k, v in match.items())), None)


def records(server: Server, name: str) -> list[dict[str, Any]]:
    return server.get_json(f"/faas/v1/functions/{name}/logs?limit=1000")["Invocations"]


def gb_seconds(records: list[dict[str, Any]], memory_mb: int = 128) -> float:
    return sum(memory_mb * r["BilledDurationMs"] for r in records) / 1024 / 1000


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def test_usage_per_function_and_owner_follows_the_settings_and_the_free_tier(server, lam, dev, faas) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = unique("usage-a"), unique("dev-b")
    create(lam, mine, code=HANDLER)
    create(lambda_as(server, dev[0]), theirs, code=HANDLER)

    first = lam.invoke(FunctionName=mine, Payload=b"{}", LogType="Tail")
    lam.invoke(FunctionName=mine, Payload=b'{"fail": true}')
    lambda_as(server, dev[0]).invoke(FunctionName=theirs, Payload=b"{}")

    # REPORT follows the settings: 1 ms steps, and a cold start's init billed with its duration.
    report_line = base64.b64decode(first["LogResult"]).decode().splitlines()[-1]
    duration, billed = (float(re.search(rf"{field}: ([\d.]+) ms", report_line).group(1))  # type: ignore[union-attr]
                        for field in ("\tDuration", "Billed Duration"))
    init = float(re.search(r"Init Duration: ([\d.]+) ms", report_line).group(1))  # type: ignore[union-attr]
    assert duration + init - 0.01 <= billed <= max(1, math.ceil(duration + init + 0.01)), report_line

    def counted() -> dict[str, Any] | None:
        report = usage(server)
        done = (row(report, Function=mine) or {}).get("Requests") == 2 and \
            (row(report, Function=theirs) or {}).get("Requests") == 1
        return report if done else None

    report = wait_for(counted, timeout=30)
    assert (report["BillingStepMs"], report["BillInit"]) == (1, True)
    assert report["FreeTier"] == {"Requests": FREE_REQUESTS, "GBSeconds": FREE_GB_SECONDS}
    # Each row is what its invocation records add up to (the records are the raw truth; the recorder writes
    # them in batches of its own, so they may come a moment after the rollups).
    for name, owner in ((mine, ADMIN_ARN), (theirs, dev[1])):
        rolled = row(report, Function=name)
        assert rolled is not None and rolled["Owner"] == owner
        raw = wait_for(lambda: (r := records(server, name)) and len(r) == rolled["Requests"] and r, timeout=30)
        assert rolled["Errors"] == sum(r["Outcome"] != "success" for r in raw)
        assert rolled["ColdStarts"] == sum(r["Cold"] for r in raw)
        assert rolled["BilledDurationMs"] == sum(r["BilledDurationMs"] for r in raw)
        assert rolled["GBSeconds"] == pytest.approx(gb_seconds(raw), abs=1e-6)
        assert rolled["Cost"] == pytest.approx(len(raw) * PRICE_REQUEST + gb_seconds(raw) * PRICE_GB_SECOND)
    assert row(report, Function=mine)["Errors"] == 1  # type: ignore[index]

    total = report["Total"]
    assert total["Requests"] == sum(r["Requests"] for r in report["Rows"])
    assert total["FreeRequests"] == min(total["Requests"], FREE_REQUESTS)
    assert total["FreeGBSeconds"] == pytest.approx(min(total["GBSeconds"], FREE_GB_SECONDS), abs=1e-6)
    assert total["Due"] == pytest.approx((total["Requests"] - total["FreeRequests"]) * PRICE_REQUEST +
                                         (total["GBSeconds"] - total["FreeGBSeconds"]) * PRICE_GB_SECOND)

    by_owner = usage(server, by="owner")
    admin_row, dev_row = row(by_owner, Owner=ADMIN_ARN), row(by_owner, Owner=dev[1])
    assert dev_row is not None and dev_row["Functions"] == 1 and dev_row["Requests"] == 1
    assert admin_row is not None and admin_row["Requests"] >= 2 and "Function" not in admin_row
    assert by_owner["Total"] == total

    # `faas usage`: the same answer as JSON, its rows as CSV, and a table with the free tier and what is due.
    assert json.loads(ok(faas("usage", "--json")).stdout) == usage(server)
    parsed = list(csv.DictReader(io.StringIO(ok(faas("usage", "--csv", "--by", "owner")).stdout)))
    assert {r["Owner"]: int(r["Requests"]) for r in parsed} == \
        {r["Owner"]: r["Requests"] for r in usage(server, by="owner")["Rows"]}
    shown = ok(faas("usage", "--function", mine)).stdout
    lines = shown.splitlines()
    assert lines[0].split() == ["FUNCTION", "OWNER", "REQUESTS", "GB-SECONDS", "DURATION-MS", "BILLED-MS",
                                "ERRORS", "THROTTLES", "COLD-STARTS", "COST-USD"]
    assert lines[1].split()[:3] == [mine, ADMIN_ARN, "2"] and lines[2].split()[:2] == ["TOTAL", "2"]
    assert "billed in 1 ms steps, init billed" in shown and f"of {FREE_REQUESTS} requests" in shown
    assert "due: $" in shown

    # An idle function costs nothing: it exists, and has no usage at all.
    idle = unique("usage-idle")
    create(lam, idle, code=HANDLER)
    nothing = usage(server, function=idle)
    assert nothing["Rows"] == [] and nothing["Total"]["Requests"] == 0 and nothing["Total"]["Cost"] == 0

    # Lambda's own throttles count too (a request refused is no request billed).
    lam.put_function_concurrency(FunctionName=idle, ReservedConcurrentExecutions=0)
    status, _, answer = server.request("POST", f"/2015-03-31/functions/{idle}/invocations", b"{}")
    assert status == 429 and json.loads(answer)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    throttled = wait_for(lambda: row(usage(server, function=idle), Function=idle), timeout=30)
    assert (throttled["Throttles"], throttled["Requests"], throttled["Cost"]) == (1, 0, 0)


def test_async_retries_and_event_source_batches_are_billed_as_lambda_bills_them(server, lam) -> None:  # type: ignore[no-untyped-def]
    # Every attempt of an asynchronous event is a request: one event, one retry -> two requests, two errors.
    failing = unique("usage-retry")
    create(lam, failing, code=HANDLER)
    lam.put_function_event_invoke_config(FunctionName=failing, MaximumRetryAttempts=1)
    lam.invoke(FunctionName=failing, InvocationType="Event", Payload=b'{"fail": true}')
    rolled = wait_for(lambda: (r := row(usage(server, function=failing), Function=failing)) and
                      r["Requests"] == 2 and r, timeout=60)
    assert rolled["Errors"] == 2
    wait_for(lambda: len(records(server, failing)) == 2, timeout=30)

    # An event source's batch is one request, however many messages it carries.
    batched = unique("usage-batch")
    create(lam, batched, role_arn=READER_ARN, code=HANDLER)
    sqs = sqs_client(server)
    url, arn = queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(6)])
    lam.create_event_source_mapping(FunctionName=batched, EventSourceArn=arn, BatchSize=10,
                                    MaximumBatchingWindowInSeconds=1)

    def batch_sizes() -> list[int]:
        return [int(m) for r in records(server, batched) for m in re.findall(r"batch of (\d+)", r["Log"])]

    sizes = wait_for(lambda: (s := batch_sizes()) and sum(s) == 6 and s, timeout=60)
    assert len(sizes) < 6  # the messages were waiting: they came in fewer batches than messages
    wait_for(lambda: (row(usage(server, function=batched), Function=batched) or {}).get("Requests") == len(sizes),
             timeout=30)


def invoke_raw(server: Server, credentials, name: str, payload: bytes) -> tuple[int, dict, dict]:  # type: ignore[no-untyped-def]
    status, headers, body = server.request("POST", f"/2015-03-31/functions/{name}/invocations", payload,
                                           credentials=credentials)
    return status, headers, json.loads(body) if body else {}


def test_a_budget_throttles_its_owner_and_concurrency_slips_past_it_only_by_what_was_in_flight(server, dev, faas) -> None:  # type: ignore[no-untyped-def]
    credentials, owner = dev
    name = unique("dev-budget")
    create(lambda_as(server, credentials), name, code=HANDLER)
    spent_before = (row(usage(server, by="owner"), Owner=owner) or {"GBSeconds": 0.0})["GBSeconds"]
    limit = round(spent_before + 0.15, 6)  # about five invocations of 0.2 s at 128 MB
    set_budget = ok(faas("budgets", "set", owner, "--gb-seconds", str(limit))).stdout
    assert json.loads(set_budget)["GBSeconds"] == limit

    wave = 6  # invocations in flight at once
    outcomes: list[tuple[int, dict, dict]] = []
    with ThreadPoolExecutor(wave) as pool:
        for _ in range(20):
            answers = list(pool.map(lambda _: invoke_raw(server, credentials, name, b'{"sleep": 0.2}'), range(wave)))
            outcomes += answers
            if any(status == 429 for status, _, _ in answers):
                break
    refused = [(headers, body) for status, headers, body in outcomes if status == 429]
    assert refused, "the budget never throttled"
    headers, body = refused[0]
    assert headers["x-amzn-ErrorType"].startswith("TooManyRequestsException")
    assert body["Reason"] == "OwnerBudgetExceeded" and owner in body["message"]
    assert all(status in (200, 429) for status, _, _ in outcomes)

    # Past the limit by at most what was in flight when it was reached: at most one wave.
    ran = sum(status == 200 for status, _, _ in outcomes)
    raw = wait_for(lambda: (r := records(server, name)) and len(r) == ran and r, timeout=30)
    largest = max(128 * r["BilledDurationMs"] for r in raw) / 1024 / 1000
    wait_for(lambda: (r := row(usage(server, function=name), Function=name)) and
             r["Requests"] == ran and r["Throttles"] == len(refused) and r, timeout=30)
    spent = row(usage(server, by="owner"), Owner=owner)
    assert spent is not None and spent["GBSeconds"] < limit + wave * largest
    # Still refused, on any of the owner's functions; the admin's are not.
    assert invoke_raw(server, credentials, name, b"{}")[0] == 429
    listed = ok(faas("budgets", "ls")).stdout.splitlines()
    assert listed[0].split() == ["OWNER", "GB-SECONDS", "COST-USD", "MONTH", "SPENT-GB-SECONDS", "SPENT-USD"]
    assert listed[1].split()[:2] == [owner, str(limit)]

    # A cost budget refuses just the same; raising the limit lets invocations run again.
    native(server, "PUT", "/faas/v1/budgets", {"Owner": owner, "Cost": 0})
    assert invoke_raw(server, credentials, name, b"{}")[2]["Reason"] == "OwnerBudgetExceeded"
    ok(faas("budgets", "set", owner, "--gb-seconds", "1000"))
    assert invoke_raw(server, credentials, name, b"{}")[0] == 200
    ok(faas("budgets", "rm", owner))
    assert owner not in ok(faas("budgets", "ls")).stdout
    gone = faas("budgets", "rm", owner)
    assert gone.returncode == 1 and "ResourceNotFoundException" in gone.stderr


def test_bad_input_is_refused_in_the_apis_format_and_nothing_stored_is_lost(server, lam, dev, faas) -> None:  # type: ignore[no-untyped-def]
    name = unique("usage-kept")
    create(lam, name, code=HANDLER)
    lam.invoke(FunctionName=name, Payload=b"{}")
    wait_for(lambda: row(usage(server, function=name), Function=name), timeout=30)
    native(server, "PUT", "/faas/v1/budgets", {"Owner": dev[1], "GBSeconds": 500})
    usage_before = usage(server)
    budgets_before = native(server, "GET", "/faas/v1/budgets")

    def refused(method: str, path: str, payload: Any, status: int, code: str, words: str) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        got, headers, answer = server.request(method, path, body, {"Content-Type": "application/json"} if body else {})
        error = json.loads(answer)
        assert (got, headers["x-amzn-ErrorType"].split(":")[0]) == (status, code), (path, payload, answer)
        assert words in error["message"] and error["Type"] == "User", error

    for month in ("2026-13", "2026-1", "26-01", "december", "2026-12-01"):
        refused("GET", f"/faas/v1/usage?month={month}", None, 400, "InvalidParameterValueException", "YYYY-MM")
    refused("GET", "/faas/v1/usage?by=region", None, 400, "InvalidParameterValueException", "function or owner")
    refused("GET", "/faas/v1/usage?function=no-such-function", None, 404, "ResourceNotFoundException", "no-such")
    for limits, words in (({"GBSeconds": -1}, "below zero"), ({"Cost": -0.01}, "below zero"),
                          ({"GBSeconds": "lots"}, "must be a number"), ({}, "GBSeconds or Cost")):
        refused("PUT", "/faas/v1/budgets", {"Owner": dev[1], **limits}, 400, "InvalidParameterValueException", words)
    refused("PUT", "/faas/v1/budgets", {"GBSeconds": 1}, 400, "InvalidParameterValueException", "Owner is required")
    refused("PUT", "/faas/v1/budgets", {"Owner": f"arn:aws:iam::{ACCOUNT}:user/nobody", "GBSeconds": 1}, 404,
            "ResourceNotFoundException", "nobody")
    refused("DELETE", "/faas/v1/budgets?owner=arn%3Aaws%3Aiam%3A%3A000000000000%3Auser%2Fnobody", None, 404,
            "ResourceNotFoundException", "nobody")
    refused("DELETE", "/faas/v1/budgets", None, 400, "InvalidParameterValueException", "owner is required")
    # Usage is its own action: a principal that may invoke may not read it.
    status, headers, answer = server.request("GET", "/faas/v1/usage", credentials=dev[0])
    assert (status, headers["x-amzn-ErrorType"].split(":")[0]) == (403, "AccessDeniedException")
    assert "faas:GetUsage" in json.loads(answer)["message"]

    # The CLI says so too: before any request when argparse can tell, else the server's error.
    bad_month = faas("usage", "--month", "2026-13")
    assert bad_month.returncode == 1 and "InvalidParameterValueException" in bad_month.stderr
    assert faas("usage", "--by", "region").returncode == 2
    below = faas("budgets", "set", dev[1], "--gb-seconds", "-5")
    assert below.returncode == 1 and "below zero" in below.stderr

    assert usage(server) == usage_before
    assert native(server, "GET", "/faas/v1/budgets") == budgets_before
    native(server, "DELETE", "/faas/v1/budgets?owner=" + urllib.parse.quote(dev[1], safe=""), expect=204)

