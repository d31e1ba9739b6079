"""`faas triggers` as a user runs it: the CLI as a subprocess against a real `faas serve`, found through the
data dir alone, feeding a real function from a queue made with `faas queues`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import Server, unique, wait_for
from tests.e2e.test_cli_e2e import cli_env, ok
from tests.e2e.test_event_source_mappings_e2e import READER_ARN, batches, bodies, deploy, with_reader_role


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_reader_role(Server(tmp_path_factory.mktemp("faas") / "data").start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def faas(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", *args], env=cli_env(server.data_dir, home), cwd=home,
                              capture_output=True, text=True, timeout=120)
    return run


def test_add_ls_disable_enable_and_rm_a_queue_trigger(server: Server, faas) -> None:  # type: ignore[no-untyped-def]
    lam = server.client()
    name = deploy(lam, role=READER_ARN)
    queue = unique("cli-trig")
    ok(faas("queues", "create", queue))
    trigger = ok(faas("triggers", "add", name, "--queue", queue, "--batch-size", "20", "--window", "1",
                      "--report-failures", "--max-concurrency", "4",
                      "--filter", '{"body": {"kind": ["order"]}}')).stdout.strip()
    mapping = lam.get_event_source_mapping(UUID=trigger)
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"], mapping["FunctionResponseTypes"],
            mapping["ScalingConfig"], mapping["EventSourceArn"]) == \
        (20, 1, ["ReportBatchItemFailures"], {"MaximumConcurrency": 4}, f"arn:aws:sqs:us-east-1:000000000000:{queue}")

    ok(faas("queues", "send", queue, "--body", json.dumps({"kind": "order", "n": 1})))
    ok(faas("queues", "send", queue, "--body", json.dumps({"kind": "refund"})))
    wait_for(lambda: bodies(server, name) == [json.dumps({"kind": "order", "n": 1})])

    listing = ok(faas("triggers", "ls", name)).stdout.splitlines()
    assert listing[0].split()[:6] == ["ID", "KIND", "SOURCE", "STATE", "BATCH", "WINDOW"]
    [row] = listing[1:]
    assert row.split()[:7] == [trigger, "queue", queue, "Enabled", "20", "1", "1"]

    assert ok(faas("triggers", "disable", trigger)).stdout.strip() == f"trigger {trigger}: Disabling"
    wait_for(lambda: lam.get_event_source_mapping(UUID=trigger)["State"] == "Disabled")
    assert ok(faas("triggers", "enable", trigger)).stdout.strip() == f"trigger {trigger}: Enabling"
    wait_for(lambda: lam.get_event_source_mapping(UUID=trigger)["State"] == "Enabled")

    assert ok(faas("triggers", "rm", trigger)).stdout.strip() == f"deleted trigger {trigger}"
    wait_for(lambda: len(ok(faas("triggers", "ls", name)).stdout.splitlines()) == 1)
    assert len(batches(server, name)) == 1


def test_bad_input_is_refused_clearly(server: Server, faas) -> None:  # type: ignore[no-untyped-def]
    name = deploy(server.client(), role=READER_ARN)
    queue = unique("cli-trig")
    ok(faas("queues", "create", queue))
    refused = faas("triggers", "add", name, "--queue", queue, "--batch-size", "0")
    assert refused.returncode == 1 and "ValidationException" in refused.stderr and "batchSize" in refused.stderr
    refused = faas("triggers", "add", name, "--queue", unique("missing"))
    assert refused.returncode == 1 and "QueueDoesNotExist" in refused.stderr
    refused = faas("triggers", "add", name, "--queue", queue, "--filter", "{not json")
    assert refused.returncode == 2 and "--filter" in refused.stderr
    refused = faas("triggers", "add", name)
    assert refused.returncode == 2 and "--queue" in refused.stderr
    refused = faas("triggers", "rm", "00000000-0000-0000-0000-000000000000")
    assert refused.returncode == 1 and "ResourceNotFoundException" in refused.stderr
    assert ok(faas("triggers", "ls", name)).stdout.splitlines()[1:] == []
