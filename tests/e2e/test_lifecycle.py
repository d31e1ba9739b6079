"""`faas serve` as an operator sees it: first start, restarts, SIGTERM, SIGKILL, no Docker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import docker
import docker.errors
import pytest

from tests.e2e.conftest import ROLE, Server, make_zip, unique, wait_until_busy

pytestmark = pytest.mark.docker

# It marks /tmp/started once the handler runs, so a test can tell "running" from "event on its way".
SLEEPY = make_zip({"app.py": "import time\ndef handler(e, c):\n    open('/tmp/started', 'w').close()\n"
                             "    time.sleep(e.get('s', 0))\n    return {'slept': e.get('s', 0)}\n"})


def node_containers(server: Server) -> list:
    node = (server.data_dir / "node-id").read_text().strip()
    return docker.from_env().containers.list(all=True, filters={"label": f"faas.node={node}"})


def test_first_start_writes_private_credentials_and_survives_restart(tmp_path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        assert (server.data_dir / "faas.db").exists()
        for private in ("credentials", "master.key"):
            assert (server.data_dir / private).stat().st_mode & 0o777 == 0o600
        credentials = (server.data_dir / "credentials").read_text()
        lam = server.client()
        name = unique("persist")
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": SLEEPY}, MemorySize=192, Timeout=9,
                            Environment={"Variables": {"KEPT": "yes"}})
        before = lam.get_function_configuration(FunctionName=name)
    finally:
        assert server.stop() == 0

    again = Server(tmp_path / "data").start()
    try:
        assert (again.data_dir / "credentials").read_text() == credentials  # the same admin key
        lam = again.client()
        after = lam.get_function_configuration(FunctionName=name)
        for key in ("CodeSha256", "CodeSize", "MemorySize", "Timeout", "Environment", "RevisionId", "LastModified"):
            assert after[key] == before[key], key
        result = lam.invoke(FunctionName=name, Payload=b'{"s": 0}')
        assert json.loads(result["Payload"].read()) == {"slept": 0}
    finally:
        assert again.stop() == 0


def test_sigterm_finishes_in_flight_invocations_and_removes_containers(tmp_path) -> None:
    server = Server(tmp_path / "data").start()
    lam = server.client()
    name = unique("drain")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": SLEEPY}, Timeout=20)
    lam.invoke(FunctionName=name, Payload=b'{"s": 0}')  # warm one environment up
    results: list = []

    def slow_call() -> None:
        response = lam.invoke(FunctionName=name, Payload=b'{"s": 2}')
        results.append((response.get("FunctionError"), json.loads(response["Payload"].read())))

    caller = threading.Thread(target=slow_call)
    caller.start()
    wait_until_busy(server, name)  # the invocation is running inside its container now
    server.proc.send_signal(signal.SIGTERM)
    caller.join(30)
    assert server.stop() == 0
    assert results == [(None, {"slept": 2})]
    assert node_containers(server) == []
    assert "stopped" in server.output()


def test_restart_after_sigkill_removes_leftover_containers(tmp_path) -> None:
    no_prewarm = {"FAAS_PREWARM_PER_RUNTIME": "0"}  # count only the function's own container
    server = Server(tmp_path / "data", extra_env=no_prewarm).start()
    lam = server.client()
    name = unique("orphan")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": SLEEPY}, Timeout=60)
    # An invocation still running when the platform dies keeps its container alive.
    caller = threading.Thread(target=lambda: _ignore_errors(lam.invoke, FunctionName=name, Payload=b'{"s": 60}'))
    caller.start()
    # Kill only once the handler runs: an event still on its way to /next would make the runtime exit.
    deadline = time.monotonic() + 30
    while not _handler_started(server):
        assert time.monotonic() < deadline, "the handler never started"
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    caller.join(10)
    assert len(node_containers(server)) == 1  # left behind by the killed process

    again = Server(tmp_path / "data", extra_env=no_prewarm).start()
    try:
        assert node_containers(again) == []
        assert "removed 1 containers left behind" in again.output()
        lam = again.client()
        assert json.loads(lam.invoke(FunctionName=name, Payload=b'{"s": 0}')["Payload"].read()) == {"slept": 0}
    finally:
        assert again.stop() == 0


def _handler_started(server: Server) -> bool:
    for container in node_containers(server):
        try:
            if container.exec_run(["test", "-f", "/tmp/started"]).exit_code == 0:
                return True
        except docker.errors.APIError:  # not running (yet, or any more)
            pass
    return False


def _ignore_errors(call, **kwargs) -> None:  # type: ignore[no-untyped-def]
    try:
        call(**kwargs)
    except Exception:
        pass


def test_without_docker_serve_fails_with_a_hint(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
    env.update(FAAS_DATA_DIR=str(tmp_path / "data"), FAAS_PORT="0",
               DOCKER_HOST=f"unix://{tmp_path}/no-such-docker.sock")
    done = subprocess.run([sys.executable, "-m", "faas", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "Docker is not running" in done.stderr and "dockerd" in done.stderr
    assert "Traceback" not in done.stderr
