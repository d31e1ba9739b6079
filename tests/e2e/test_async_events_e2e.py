"""`faas events NAME` as a user runs it: the CLI as a subprocess against a real `faas serve`, listing a function's
asynchronous invocations while they wait for a retry and after they failed for good, never their payloads, and
only to a principal allowed faas:ListAsyncEvents on that function."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import Server, unique
from tests.e2e.test_async_e2e import ALWAYS_FAILS, ARN, ECHO, deploy, invoke_async, runs, wait_for, \
    with_sender_role
from tests.e2e.test_cli_identities_e2e import faas as run_cli, ok
from tests.e2e.test_security_e2e import assert_error, make_principal

pytestmark = pytest.mark.docker

# Retries after 4 then 8 seconds: long enough for the CLI to see an event waiting for its retry.
RETRY_BASE_S = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_sender_role(Server(tmp_path_factory.mktemp("faas") / "data",
                                  extra_env={"FAAS_ASYNC_RETRY_BASE_S": str(RETRY_BASE_S)}).start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def faas(server: Server, home: Path, *args: str, credentials: Credentials | None = None,
         ) -> subprocess.CompletedProcess[str]:
    """The CLI as a user who knows only the data dir (and, for another principal, its key in the environment)."""
    key = None if credentials is None else {"AWS_ACCESS_KEY_ID": credentials.access_key_id,
                                            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key}
    return run_cli(server.data_dir, home, *args, env=key)


def listed(server: Server, home: Path, name: str, *options: str) -> list[dict]:
    """`faas events NAME -o json`: exactly one JSON document on stdout."""
    return json.loads(ok(faas(server, home, "events", name, "-o", "json", *options)).stdout)["Events"]


def row_of(server: Server, home: Path, name: str, request_id: str) -> list[str] | None:
    """The event's row of `faas events NAME`, split on blanks."""
    table = ok(faas(server, home, "events", name)).stdout.splitlines()
    assert table[0].split() == ["REQUEST", "ID", "STATE", "ATTEMPTS", "NEXT", "RETRY", "LAST", "ERROR", "SENT", "TO"]
    return next((line.split() for line in table[1:] if line.startswith(request_id)), None)


def test_a_failing_event_is_pending_with_its_attempts_and_next_retry_then_failed(server: Server, lam: Any,
                                                                                 home: Path) -> None:
    sink = deploy(lam, ECHO)
    name = deploy(lam, ALWAYS_FAILS)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2,
                                         DestinationConfig={"OnFailure": {"Destination": ARN + sink}})
    secret = f"hunter2-{uuid.uuid4().hex}"
    payload = {"card": secret}
    request_id = invoke_async(lam, name, payload)

    def waiting_for_a_retry() -> list[str] | None:
        """e.g. ['<id>', 'pending', '1', 'in', '3s', 'ValueError']. The last attempt's error is known once its
        invocation record is written (in batches), so that is waited for too."""
        row = row_of(server, home, name, request_id)
        return row if row and row[1] == "pending" and row[2] in ("1", "2") and row[-1] == "ValueError" else None

    row = wait_for(waiting_for_a_retry, 60, "the event waiting for a retry")
    assert re.fullmatch(r"in (\d+m )?\d+s", " ".join(row[3:-1])), row

    [failed] = wait_for(lambda: [e for e in listed(server, home, name) if e["State"] == "failed"], 60,
                        "the event failed for good")
    assert failed["RequestId"] == request_id
    assert (failed["Attempts"], failed["Reason"], failed["LastError"], failed["SentTo"]) == (
        3, "RetriesExhausted", "ValueError", [ARN + sink])
    assert failed["PayloadBytes"] == len(json.dumps(payload).encode()) and failed["NextAttemptAt"] is None
    assert failed["EnqueuedAt"] < failed["FailedAt"]
    # The third attempt's invocation record is written in a batch, possibly after the event is marked failed.
    wait_for(lambda: len([r for r in runs(server, name) if r["RequestId"] == request_id]) == 3, 30,
             "the three attempts' invocation records")
    assert row_of(server, home, name, request_id) == [request_id, "failed", "3", "-", "ValueError", ARN + sink]

    as_json = ok(faas(server, home, "events", "ls", name, "--state", "failed", "-o", "json"))
    assert [e["RequestId"] for e in json.loads(as_json.stdout)["Events"]] == [request_id]
    assert secret not in as_json.stdout and secret not in ok(faas(server, home, "events", name)).stdout
    assert ok(faas(server, home, "events", name, "--state", "pending")).stdout == (
        f"{name} has no pending asynchronous events\n")


def test_a_succeeding_event_is_not_failed(server: Server, lam: Any, home: Path) -> None:
    name = deploy(lam, ECHO)
    request_id = invoke_async(lam, name, {"n": 1})
    wait_for(lambda: any(r["RequestId"] == request_id and r["Outcome"] == "success" for r in runs(server, name)),
             60, "the event ran")
    wait_for(lambda: listed(server, home, name) == [], 30, "the event was completed")
    assert listed(server, home, name, "--state", "failed") == []
    assert ok(faas(server, home, "events", name)).stdout == f"{name} has no asynchronous events\n"


def test_a_principal_sees_only_the_functions_it_is_allowed(server: Server, lam: Any, home: Path) -> None:
    mine, other = deploy(lam, ALWAYS_FAILS), deploy(lam, ALWAYS_FAILS)
    for fn in (mine, other):
        lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=0)
    mine_id, other_id = invoke_async(lam, mine, {}), invoke_async(lam, other, {})
    reader = make_principal(server, unique("events-reader"), [
        {"Effect": "Allow", "Action": "faas:ListAsyncEvents", "Resource": ARN + mine}])

    events = wait_for(lambda: [e for e in json.loads(ok(faas(server, home, "events", mine, "-o", "json",
                                                             credentials=reader)).stdout)["Events"]
                               if e["State"] == "failed"], 60, "its event failed")
    assert [e["RequestId"] for e in events] == [mine_id]  # never the other function's event
    for name in (other, unique("async-missing")):  # another's function, or none: the same refusal
        refused = faas(server, home, "events", name, credentials=reader)
        assert refused.returncode == 1 and "AccessDeniedException" in refused.stderr, refused.stderr
        assert other_id not in refused.stdout + refused.stderr
        assert_error(server.request("GET", f"/faas/v1/functions/{name}/events", credentials=reader), 403,
                     "AccessDeniedException")


def test_an_unknown_function_is_not_found(server: Server, home: Path) -> None:
    missing = unique("async-missing")
    result = faas(server, home, "events", missing)
    assert result.returncode == 1 and "ResourceNotFoundException" in result.stderr and missing in result.stderr
    assert_error(server.request("GET", f"/faas/v1/functions/{missing}/events"), 404, "ResourceNotFoundException")


@pytest.mark.parametrize("query, message", [
    ("state=running", "state must be one of pending, failed, all"),
    ("state=", "state must be one of pending, failed, all"),
    ("limit=0", "limit must be an integer between 1 and 1000"),
    ("limit=1001", "limit must be an integer between 1 and 1000"),
])
def test_a_bad_query_is_refused_with_what_is_wrong(server: Server, lam: Any, home: Path, query: str,
                                                   message: str) -> None:
    name = deploy(lam, ECHO)
    answer = server.request("GET", f"/faas/v1/functions/{name}/events?{query}")
    assert_error(answer, 400, "InvalidParameterValueException")
    assert message in json.loads(answer[2])["message"]


def test_the_cli_refuses_a_bad_state_and_passes_on_the_servers_refusal_of_a_bad_limit(server: Server,
                                                                                      home: Path) -> None:
    bad_state = faas(server, home, "events", "anything", "--state", "running")
    assert bad_state.returncode == 2 and "invalid choice: 'running'" in bad_state.stderr
    bad_limit = faas(server, home, "events", "anything", "--limit", "0")
    assert bad_limit.returncode == 1 and "limit must be an integer between 1 and 1000" in bad_limit.stderr
