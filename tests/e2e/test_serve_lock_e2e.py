"""One server per data dir: a second `faas serve` on a data dir in use is refused before it touches anything,
while the first server's invocation in flight finishes untouched and its endpoint file stays."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ROLE, Server, unique, wait_until_busy
from tests.e2e.test_lifecycle import SLEEPY, node_containers

pytestmark = pytest.mark.docker


def second_serve(server: Server, port: str) -> subprocess.CompletedProcess:
    env = dict(server.env, FAAS_PORT=port)
    return subprocess.run([sys.executable, "-m", "faas", "serve"], env=env, capture_output=True, text=True,
                          timeout=120)


def test_second_server_on_a_data_dir_in_use_is_refused_and_touches_nothing(tmp_path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        lam = server.client()
        name = unique("locked")
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": SLEEPY}, Timeout=60)
        endpoint_before = (server.data_dir / "endpoint").read_text()
        port = str(urlsplit(server.endpoint).port)
        results: list = []

        def slow_call() -> None:
            response = lam.invoke(FunctionName=name, Payload=b'{"s": 4}')
            results.append((response.get("FunctionError"), json.loads(response["Payload"].read())))

        caller = threading.Thread(target=slow_call)
        caller.start()
        wait_until_busy(server, name)
        containers = {c.id for c in node_containers(server)}
        for second_port in (port, "0"):  # its own port, and another one: both refused for the data dir
            refused = second_serve(server, second_port)
            assert refused.returncode == 2, refused.stderr
            assert f"pid {server.proc.pid}" in refused.stderr, refused.stderr
            assert f"listening on {server.endpoint}" in refused.stderr, refused.stderr
            assert str(server.data_dir) in refused.stderr
            assert "removed" not in refused.stderr and "migrations" not in refused.stderr
        caller.join(60)
        assert results == [(None, {"slept": 4})]  # the invocation finished untouched
        assert (server.data_dir / "endpoint").read_text() == endpoint_before
        assert containers <= {c.id for c in node_containers(server)}
        assert lam.invoke(FunctionName=name, Payload=b'{"s": 0}')["StatusCode"] == 200
    finally:
        assert server.stop() == 0
    # Once the first server is gone, the data dir is free again.
    again = Server(tmp_path / "data").start()
    assert again.stop() == 0


def test_busy_port_is_refused_before_the_data_dir_is_used(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
        env.update(FAAS_DATA_DIR=str(tmp_path / "data"), FAAS_PORT=str(port))
        refused = subprocess.run([sys.executable, "-m", "faas", "serve"], env=env, capture_output=True, text=True,
                                 timeout=120)
    assert refused.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in refused.stderr and "--port" in refused.stderr, refused.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["serve.lock"]  # no database, no endpoint
