"""Prewarmed generic environments: kept ready per runtime, specialised for one function on first use."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import ROLE, Server, environments, make_zip, prewarmed, unique, wait_for

pytestmark = pytest.mark.docker

WHOAMI = make_zip({"app.py": (
    "import os\n"
    "def handler(event, context):\n"
    "    return {'fn': context.function_name, 'secret': os.environ.get('SECRET'),\n"
    "            'files': sorted(os.listdir('/var/task')), 'prewarm_flag': os.environ.get('FAAS_PREWARMED'),\n"
    "            'memory': context.memory_limit_in_mb}\n"
)})


def test_prewarmed_environment_serves_exactly_one_function(tmp_path) -> None:
    server = Server(tmp_path / "data", extra_env={"FAAS_PREWARM_PER_RUNTIME": "2"}).start()
    try:
        ready = wait_for(lambda: len(prewarmed(server, "python3.13")) == 2 and prewarmed(server, "python3.13"))
        wait_for(lambda: len(prewarmed(server, "nodejs20.x")) == 2)
        generic_ids = {e["ContainerId"] for e in ready}

        lam = server.client()
        a, b = unique("pwa"), unique("pwb")
        lam.create_function(FunctionName=a, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": WHOAMI}, MemorySize=512, Environment={"Variables": {"SECRET": "for-a"}})
        lam.create_function(FunctionName=b, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": WHOAMI})
        response = lam.invoke(FunctionName=a, Payload=b"{}", LogType="Tail")
        body = json.loads(response["Payload"].read())
        assert body == {"fn": a, "secret": "for-a", "files": ["app.py"], "prewarm_flag": None, "memory": "512"}
        log = base64.b64decode(response["LogResult"]).decode()
        init_ms = float(re.search(r"Init Duration: ([\d.]+) ms", log).group(1))
        assert init_ms < 1000

        bound = [e for e in environments(server) if e["FunctionName"] == a]
        assert len(bound) == 1 and bound[0]["ContainerId"] in generic_ids and bound[0]["Prewarmed"]
        assert bound[0]["State"] == "idle"
        # the pool refills, and the specialised environment is never offered to anyone else
        wait_for(lambda: len(prewarmed(server, "python3.13")) == 2)
        body_b = json.loads(lam.invoke(FunctionName=b, Payload=b"{}")["Payload"].read())
        assert body_b["fn"] == b and body_b["secret"] is None
        env_b = [e for e in environments(server) if e["FunctionName"] == b]
        assert env_b[0]["ContainerId"] != bound[0]["ContainerId"]
        for _ in range(3):
            assert json.loads(lam.invoke(FunctionName=a, Payload=b"{}")["Payload"].read())["secret"] == "for-a"
        assert [e["ContainerId"] for e in environments(server) if e["FunctionName"] == a] == [bound[0]["ContainerId"]]
    finally:
        assert server.stop() == 0


def test_functions_outside_the_prewarmed_shape_still_start(tmp_path) -> None:
    server = Server(tmp_path / "data", extra_env={"FAAS_PREWARM_PER_RUNTIME": "1"}).start()
    try:
        wait_for(lambda: prewarmed(server, "python3.13"))
        lam = server.client()
        name = unique("bigtmp")
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": WHOAMI}, EphemeralStorage={"Size": 1024})
        assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["fn"] == name
        mine = [e for e in environments(server) if e["FunctionName"] == name]
        assert len(mine) == 1 and not mine[0]["Prewarmed"]  # /tmp size differs: a cold container of its own
        assert len(prewarmed(server, "python3.13")) == 1
    finally:
        assert server.stop() == 0


SLOW = make_zip({"app.py": "import time\ndef handler(event, context):\n    time.sleep(1)\n    return 'ok'\n"})


def test_the_pool_grows_to_a_burst_and_serves_the_next_functions_burst(tmp_path) -> None:
    # A budget of ten 128 MB environments: one each for the floors of python3.13, nodejs20.x and
    # provided.al2023, so python3.13 may grow to eight.
    server = Server(tmp_path / "data", extra_env={"FAAS_PREWARM_PER_RUNTIME": "1",
                                                  "FAAS_PREWARM_MEMORY_MB": str(10 * 128)}).start()
    try:
        wait_for(lambda: len(prewarmed(server, "python3.13")) == 1)
        lam = server.client()

        def burst(size: int) -> list[float]:
            """A burst to a never-invoked function, each request held 1 s: the Init Duration of each."""
            name = unique("burst")
            lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": SLOW})
            with ThreadPoolExecutor(size) as pool:
                logs = list(pool.map(lambda _: base64.b64decode(lam.invoke(
                    FunctionName=name, Payload=b"{}", LogType="Tail")["LogResult"]).decode(), range(size)))
            return [float(m.group(1)) for log in logs if (m := re.search(r"Init Duration: ([\d.]+) ms", log))]

        # One start per request: the prewarmed environment and five cold starts (a loaded machine may serve
        # the last request with the first environment to finish, but all six starts were asked for).
        burst(6)
        # Then the pool grows to the burst it saw (within its budget), and the next function's
        # burst finds every environment running.
        ready = wait_for(lambda: len(prewarmed(server, "python3.13")) == 6 and prewarmed(server, "python3.13"), 60)
        generic = {e["ContainerId"] for e in ready}
        inits = burst(6)
        assert len(inits) == 6 and max(inits) < 1000, inits
        assert generic <= {e["ContainerId"] for e in environments(server) if e["Prewarmed"] and e["FunctionName"]}

        burst(8)
        wait_for(lambda: len(prewarmed(server, "python3.13")) == 8, 60)  # the budget's eight, not more
        assert all(e["MemorySize"] == 128 for e in prewarmed(server, "python3.13"))
    finally:
        assert server.stop() == 0
