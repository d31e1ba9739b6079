"""The sandbox contract under attack: hostile functions deployed and invoked through boto3 try to escape
their limits, read other functions' secrets, answer other functions' invocations and take the node down."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors
import pytest

from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker

MB = 1024 * 1024
LISTEN_PORT = 9911  # where function A of the isolation tests serves its in-flight request id

# One function answers every question about its own sandbox; `mode` picks the experiment.
HOSTILE = r'''
import errno, json, os, signal, socket, subprocess, threading, time, urllib.error, urllib.request

CHILDREN = []  # the fork bomb's children: kept across invocations of a warm environment


def handler(event, context):
    mode = event.get("mode", "ok")
    return globals()["do_" + mode](event, context)


def do_ok(event, context):
    return {"ok": True, "host": socket.gethostname(), "stream": context.log_stream_name}


def do_sleep(event, context):
    time.sleep(event["s"])
    return {"host": socket.gethostname()}


def do_facts(event, context):
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    writes = {}
    for path in ("/etc/faas-x", "/var/task/faas-x", "/usr/faas-x", "/faas-x", "/var/tmp/faas-x", "/tmp/faas-x"):
        try:
            with open(path, "w") as handle:
                handle.write("x")
            writes[path] = "written"
        except OSError as exc:
            writes[path] = errno.errorcode[exc.errno]
    mkdir = {}
    for path in ("/etc/faas-d", "/var/task/faas-d", "/tmp/faas-d"):
        try:
            os.mkdir(path)
            mkdir[path] = "made"
        except OSError as exc:
            mkdir[path] = errno.errorcode[exc.errno]
    return {
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid(),
        "groups": os.getgroups(),
        "status": {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")},
        "writes": writes, "mkdir": mkdir,
        "readonly": {p: bool(os.statvfs(p).f_flag & os.ST_RDONLY) for p in ("/", "/var/task", "/tmp")},
        "docker_socket": [p for p in ("/var/run/docker.sock", "/run/docker.sock") if os.path.exists(p)],
    }


def do_fill(event, context):
    """Write into /tmp until it is full or `target` bytes are written; free it again."""
    chunk, written, error = b"x" * (4 * 1024 * 1024), 0, None
    fd = os.open("/tmp/fill", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while written < event["target"]:
            written += os.write(fd, chunk[: event["target"] - written])
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    finally:
        os.close(fd)
        os.unlink("/tmp/fill")
    return {"written": written, "error": error}


def do_bomb(event, context):
    """Start processes until the kernel refuses; leave them running."""
    error = None
    while len(CHILDREN) < 5000:
        try:
            CHILDREN.append(subprocess.Popen(["sleep", "300"]))
        except OSError as exc:
            error = type(exc).__name__ + ":" + errno.errorcode.get(exc.errno, str(exc.errno))
            break
    return {"children": len(CHILDREN), "error": error}


def do_reap(event, context):
    """Kill the bomb's children, then prove processes can be started again."""
    for child in CHILDREN:
        child.kill()
    for child in CHILDREN:
        child.wait()
    killed = len(CHILDREN)
    CHILDREN.clear()
    return {"killed": killed, "true": subprocess.run(["true"]).returncode}


def do_hog(event, context):
    blocks = []
    while True:
        blocks.append(bytearray(16 * 1024 * 1024))


def do_exit(event, context):
    print("exiting with status 3")
    os._exit(3)


def do_kill9(event, context):
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(2)
    return "survived SIGKILL"


def do_orphans(event, context):
    """Background jobs of a shell outlive it: the orphans are re-parented to pid 1 of the container."""
    for _ in range(event["n"]):
        subprocess.run(["sh", "-c", "sleep 0.01 &"], check=True)
    time.sleep(0.5)
    states = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                states[pid] = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                pass
    return {"zombies": sum(1 for state in states.values() if state == "Z"), "processes": len(states)}


def do_ip(event, context):
    return {"ip": socket.gethostbyname(socket.gethostname()), "id": context.aws_request_id}


def do_hold(event, context):
    """Serve this invocation's request id on a TCP port until someone sends `done` (or 20 s pass)."""
    done = threading.Event()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", event["port"]))
    server.listen()
    server.settimeout(0.2)
    deadline = time.monotonic() + 20
    while not done.is_set() and time.monotonic() < deadline:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        with conn:
            conn.settimeout(1)
            conn.sendall(context.aws_request_id.encode() + b"\n")
            try:
                if conn.recv(16).startswith(b"done"):
                    done.set()
            except OSError:
                pass
    server.close()
    return {"who": "A", "id": context.aws_request_id}


def do_secret_holder(event, context):
    return {"who": "A", "has_secret": "SECRET_A" in os.environ}


def _connect(host, port, timeout=1.5):
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            try:
                return "connected:" + conn.recv(100).decode(errors="replace")
            except OSError:
                return "connected"
    except OSError as exc:
        return type(exc).__name__


def do_snoop(event, context):
    """Look everywhere a neighbour's code or secrets could show through."""
    needles = [n.encode() for n in event["needles"]]
    found = []

    def scan(label, data):
        found.extend(f"{label}: {n.decode()}" for n in needles if n in data)

    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    for pid in pids:
        for part in ("environ", "cmdline"):
            try:
                scan(f"/proc/{pid}/{part}", open(f"/proc/{pid}/{part}", "rb").read())
            except OSError:
                pass
    for path in ("/proc/self/mountinfo", "/proc/self/cgroup", "/etc/hosts", "/etc/hostname"):
        scan(path, open(path, "rb").read())
    scan("os.environ", json.dumps(dict(os.environ)).encode())
    name_hits = []
    for root, dirs, files in os.walk("/"):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        name_hits.extend(os.path.join(root, f) for f in files + dirs if f in event["names"])
    for top in ("/tmp", "/var", "/etc", "/run", "/dev/shm", "/home", "/root", "/opt", "/srv", "/mnt"):
        for root, dirs, files in os.walk(top):
            for f in files:
                path = os.path.join(root, f)
                try:
                    if os.path.isfile(path) and os.path.getsize(path) < 4 * 1024 * 1024:
                        scan(path, open(path, "rb").read())
                except OSError:
                    pass
    return {"task": sorted(os.listdir("/var/task")), "pids": pids, "found": found, "name_hits": name_hits,
            "secret_in_env": "SECRET_A" in os.environ}


def _post(url, body):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return {"status": response.status, "body": response.read().decode(errors="replace")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read().decode(errors="replace")}
    except OSError as exc:
        return {"status": None, "body": type(exc).__name__}


def do_intrude(event, context):
    """From inside B: answer A's in-flight invocation, reach A's container and the control plane."""
    runtime_api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
    api = runtime_api + "/2018-06-01/runtime"
    gateway = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")[0]
    target = event["target"]
    posts = {
        "response": _post(f"{api}/invocation/{target}/response", b'{"who": "B"}'),
        "error": _post(f"{api}/invocation/{target}/error",
                       b'{"errorType": "Injected", "errorMessage": "INJECTED-BY-B"}'),
    }
    return {
        "posts": posts,
        "reach_a": _connect(event["a_ip"], event["port"]),
        "reach_control_plane": _connect(gateway, event["api_port"]),
        "control_plane_on_runtime_api": _post(f"{runtime_api}/2015-03-31/functions/{event['victim']}/invocations",
                                              b"{}"),
    }


def do_thief(event, context):
    """A second poller in this environment: GET /next while the runtime is busy with this invocation."""
    url = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next"
    try:
        with urllib.request.urlopen(url, timeout=event["wait_s"]) as response:
            return {"status": response.status, "id": response.headers.get("Lambda-Runtime-Aws-Request-Id"),
                    "body": response.read().decode(errors="replace")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read().decode(errors="replace")}
    except OSError as exc:
        return {"status": None, "body": type(exc).__name__}


def do_read_control_plane(event, context):
    gateway = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")[0]
    url = f"http://{gateway}:{event['api_port']}/2015-03-31/functions/{event['victim']}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return {"status": response.status, "body": response.read().decode(errors="replace")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read().decode(errors="replace")}
    except OSError as exc:
        return {"status": None, "body": type(exc).__name__}
'''
HOSTILE_ZIP = make_zip({"app.py": HOSTILE})


def deploy(lam, code: bytes = HOSTILE_ZIP, **extra) -> str:  # type: ignore[no-untyped-def]
    name = unique("hostile")
    extra.setdefault("Timeout", 30)
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": code}, **extra)
    return name


def call(lam, name: str, mode: str = "ok", **event) -> tuple[dict, object, str]:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"mode": mode, **event}).encode(), LogType="Tail")
    body = json.loads(response["Payload"].read())
    return response, body, base64.b64decode(response["LogResult"]).decode()


def ok(lam, name: str, mode: str = "ok", **event) -> tuple[object, str]:  # type: ignore[no-untyped-def]
    response, body, log = call(lam, name, mode, **event)
    assert "FunctionError" not in response, body
    return body, log


def environments(server: Server, name: str) -> list[dict]:
    """The node's environments bound to one function (prewarmed ones carry no function label in Docker)."""
    return [e for e in server.get_json("/faas/v1/environments")["Environments"] if e["FunctionName"] == name]


def containers(server: Server, name: str) -> list:
    client = docker.from_env()
    return [client.containers.get(e["ContainerId"]) for e in environments(server, name)]


def gone(container_id: str, timeout: float = 15) -> bool:
    client, deadline = docker.from_env(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.containers.get(container_id).status not in ("running", "created"):
                return True
        except docker.errors.NotFound:
            return True
        time.sleep(0.2)
    return False


def healthy(server: Server) -> bool:
    with urllib.request.urlopen(server.endpoint + "/health", timeout=5) as response:
        return response.status == 200


@pytest.fixture(scope="module")
def facts(lam) -> dict:  # type: ignore[no-untyped-def]
    """What a function finds out about its own sandbox, asked once for the first three tests."""
    return ok(lam, deploy(lam), "facts")[0]  # type: ignore[return-value]


def test_runs_as_non_root(facts) -> None:  # type: ignore[no-untyped-def]
    assert facts["uid"] == facts["euid"] == 993
    assert facts["gid"] == facts["egid"] == 993
    assert 0 not in facts["groups"]


def test_all_capabilities_dropped_and_no_new_privileges(facts) -> None:  # type: ignore[no-untyped-def]
    status = facts["status"]
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, (field, status[field])
    assert status["NoNewPrivs"] == "1"
    assert facts["docker_socket"] == []


def test_root_file_system_is_read_only_and_tmp_writable(facts) -> None:  # type: ignore[no-untyped-def]
    for path in ("/etc/faas-x", "/var/task/faas-x", "/usr/faas-x", "/faas-x", "/var/tmp/faas-x"):
        assert facts["writes"][path] in ("EROFS", "EACCES"), (path, facts["writes"][path])
    for path in ("/etc/faas-d", "/var/task/faas-d"):
        assert facts["mkdir"][path] in ("EROFS", "EACCES"), (path, facts["mkdir"][path])
    assert facts["writes"]["/tmp/faas-x"] == "written" and facts["mkdir"]["/tmp/faas-d"] == "made"
    assert facts["readonly"] == {"/": True, "/var/task": True, "/tmp": False}


def test_tmp_is_limited_by_ephemeral_storage(lam) -> None:  # type: ignore[no-untyped-def]
    # tmpfs pages are charged to the memory cgroup: enough memory that a full /tmp is ENOSPC, not OOM.
    small = deploy(lam, MemorySize=2048, EphemeralStorage={"Size": 512})
    large = deploy(lam, MemorySize=2048, EphemeralStorage={"Size": 1024})
    body, _ = ok(lam, small, "fill", target=600 * MB)
    assert body["error"] == "ENOSPC"
    assert 500 * MB <= body["written"] <= 512 * MB, body["written"] / MB
    body, _ = ok(lam, large, "fill", target=600 * MB)
    assert body == {"written": 600 * MB, "error": None}
    # the environment is still fine, and /tmp was freed
    assert ok(lam, small, "fill", target=100 * MB)[0] == {"written": 100 * MB, "error": None}


def test_fork_bomb_stays_inside_its_environment(server, lam) -> None:  # type: ignore[no-untyped-def]
    bystander = deploy(lam)
    ok(lam, bystander)
    bomber = deploy(lam, MemorySize=1024)
    body, _ = ok(lam, bomber, "bomb")
    assert body["error"] == "BlockingIOError:EAGAIN", body
    assert 100 < body["children"] < 2000  # the pids limit (1024) stopped it
    # the children still run; the platform and its other functions do not notice
    assert healthy(server)
    assert ok(lam, bystander)[0]["ok"] is True
    assert ok(lam, deploy(lam))[0]["ok"] is True  # a new environment can still be started
    # the bombed environment serves its next invocation, then recovers once the children are gone
    assert ok(lam, bomber)[0]["ok"] is True
    body, _ = ok(lam, bomber, "reap")
    assert body == {"killed": body["killed"], "true": 0} and body["killed"] > 100
    assert len(containers(server, bomber)) == 1


def test_orphaned_processes_are_reaped(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam)
    body, _ = ok(lam, name, "orphans", n=20)
    assert body["zombies"] == 0, body


def test_cpu_share_and_limits_follow_the_function(server, lam) -> None:  # type: ignore[no-untyped-def]
    small = deploy(lam, MemorySize=128)
    large = deploy(lam, MemorySize=1769)
    ok(lam, small)
    ok(lam, large)
    inspected = {}
    for name, memory in ((small, 128), (large, 1769)):
        [container] = containers(server, name)
        host, config = container.attrs["HostConfig"], container.attrs["Config"]
        assert host["Memory"] == memory * MB
        assert host["MemorySwap"] == host["Memory"]  # no swap
        assert host["PidsLimit"] == 1024
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
        assert "no-new-privileges" in (host["SecurityOpt"] or [])
        assert host["Privileged"] is False
        assert host["NetworkMode"] == "faas"
        assert "size=512m" in host["Tmpfs"]["/tmp"]
        assert config["User"] == "993:993"
        assert not any("docker.sock" in m["Source"] for m in container.attrs["Mounts"])
        # the code, and the platform's pipe for the container's stdout and stderr; both read-only
        assert sorted(m["Destination"] for m in container.attrs["Mounts"]) == ["/dev/faas-output", "/var/task"]
        assert all(m["RW"] is False for m in container.attrs["Mounts"])
        inspected[memory] = host["CpuShares"]
    assert inspected[1769] == 1024  # one vCPU at 1,769 MB, as on Lambda
    assert inspected[1769] / inspected[128] == pytest.approx(1769 / 128, rel=0.02)


def test_out_of_memory_replaces_the_environment(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, MemorySize=128)
    first, _ = ok(lam, name)
    response, body, log = call(lam, name, "hog")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: signal: killed" in body["errorMessage"]
    assert "Runtime.ExitError" in log
    after, log = ok(lam, name)
    assert "Init Duration" in log  # cold: a new environment
    assert after["host"] != first["host"] and after["stream"] != first["stream"]


def test_functions_cannot_see_each_others_code_or_env(lam) -> None:  # type: ignore[no-untyped-def]
    env_secret, file_secret = secrets.token_hex(16), secrets.token_hex(16)
    private_module = f"a_private_{secrets.token_hex(4)}.py"
    victim = deploy(lam, make_zip({"app.py": HOSTILE, private_module: f"TOKEN = '{file_secret}'\n"}),
                    Environment={"Variables": {"SECRET_A": env_secret}})
    assert ok(lam, victim, "secret_holder")[0] == {"who": "A", "has_secret": True}  # A is up, secret and all
    code_hex = base64.b64decode(lam.get_function(FunctionName=victim)["Configuration"]["CodeSha256"]).hex()
    snooper = deploy(lam)
    body, _ = ok(lam, snooper, "snoop", needles=[env_secret, file_secret, code_hex, victim],
                 names=[private_module])
    assert body["task"] == ["app.py"]  # only its own code
    assert len(body["pids"]) == 2 and 1 in body["pids"]  # only its own: the init and its runtime
    assert body["found"] == [] and body["name_hits"] == []
    assert body["secret_in_env"] is False


def test_runtime_api_answers_only_the_callers_own_invocations(server, lam) -> None:  # type: ignore[no-untyped-def]
    victim, intruder = deploy(lam), deploy(lam)
    a_ip = ok(lam, victim, "ip")[0]["ip"]
    ok(lam, intruder)  # warm, so the intrusion runs while A is still holding
    api_port = int(server.endpoint.rsplit(":", 1)[1])

    def read_in_flight_id() -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((a_ip, LISTEN_PORT), timeout=1) as conn:
                    return conn.makefile().readline().strip()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    with ThreadPoolExecutor(1) as pool:
        holding = pool.submit(call, lam, victim, "hold", port=LISTEN_PORT)
        target = read_in_flight_id()  # the host may reach A (so the listener is up); B must not
        intrusion, _ = ok(lam, intruder, "intrude", target=target, a_ip=a_ip, port=LISTEN_PORT,
                          api_port=api_port, victim=victim)
        with socket.create_connection((a_ip, LISTEN_PORT), timeout=5) as conn:
            conn.sendall(b"done")
        response, result, log = holding.result()

    for kind, answer in intrusion["posts"].items():
        assert answer["status"] == 400, (kind, answer)
        assert json.loads(answer["body"])["errorType"] == "InvalidRequestID"
    assert not intrusion["reach_a"].startswith("connected"), intrusion["reach_a"]  # no traffic between environments
    assert not intrusion["reach_control_plane"].startswith("connected"), intrusion["reach_control_plane"]
    assert intrusion["control_plane_on_runtime_api"]["status"] == 404
    # A's own answer and log are untouched, live and as recorded
    assert "FunctionError" not in response
    assert result == {"who": "A", "id": target}
    assert "INJECTED-BY-B" not in log
    deadline = time.monotonic() + 10
    while True:
        records = {r["RequestId"]: r
                   for r in server.get_json(f"/faas/v1/functions/{victim}/logs?limit=10")["Invocations"]}
        if target in records or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert records[target]["Outcome"] == "success" and "INJECTED-BY-B" not in records[target]["Log"]
    assert healthy(server)


@pytest.fixture
def own_server(tmp_path):  # type: ignore[no-untyped-def]
    """A server of its own, for tests that leave a Runtime API request hanging (see the xfail below)."""
    srv = Server(tmp_path / "data", extra_env={"FAAS_SHUTDOWN_GRACE_S": "5"}).start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.kill()  # only this test's own server; then what it left behind
        srv.proc.wait(30)
        srv.log.close()
        node = (srv.data_dir / "node-id").read_text().strip()
        api = docker.from_env().api
        for container in api.containers(all=True, filters={"label": f"faas.node={node}"}):
            with contextlib.suppress(docker.errors.APIError):  # gone already, or auto-removal under way
                api.remove_container(container["Id"], force=True)


def test_a_second_poller_gets_no_other_functions_work(own_server) -> None:  # type: ignore[no-untyped-def]
    lam = own_server.client()
    victim, thief = deploy(lam), deploy(lam)
    ok(lam, victim)
    ok(lam, thief)
    with ThreadPoolExecutor(1) as pool:
        stealing = pool.submit(ok, lam, thief, "thief", wait_s=3)
        time.sleep(0.5)
        victim_ids = [ok(lam, victim, "ip")[0]["id"] for _ in range(3)] + \
                     [ok(lam, deploy(lam), "ip")[0]["id"]]  # and a new function's first environment
        stolen, _ = stealing.result()
    assert stolen.get("id") not in victim_ids
    assert stolen == {"status": None, "body": "TimeoutError"}  # B's own runtime is busy: nothing to take
    assert ok(lam, thief)[0]["ok"] is True


def test_an_abandoned_next_does_not_hold_up_shutdown(own_server) -> None:  # type: ignore[no-untyped-def]
    lam = own_server.client()
    thief = deploy(lam)
    assert ok(lam, thief, "thief", wait_s=0.5)[0] == {"status": None, "body": "TimeoutError"}
    started = time.monotonic()
    with contextlib.suppress(subprocess.TimeoutExpired):
        own_server.stop(timeout=15)  # FAAS_SHUTDOWN_GRACE_S=5 and nothing in flight
    assert own_server.proc.poll() == 0 and time.monotonic() - started < 15


def test_control_plane_is_not_reachable_from_functions_on_a_public_listener(tmp_path) -> None:
    server = Server(tmp_path / "data", extra_env={"FAAS_HOST": "0.0.0.0"}).start()
    try:
        lam = server.client()
        secret = secrets.token_hex(16)
        victim = deploy(lam, Environment={"Variables": {"SECRET_A": secret}})
        snooper = deploy(lam)
        body, _ = ok(lam, snooper, "read_control_plane", victim=victim,
                     api_port=int(server.endpoint.rsplit(":", 1)[1]))
        assert secret not in body["body"]
        assert body["status"] in (None, 401, 403), body
    finally:
        assert server.stop() == 0


def test_crash_mid_invocation_is_exit_error_and_environment_replaced(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam)
    first, _ = ok(lam, name)
    response, body, log = call(lam, name, "exit")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"] == (f"RequestId: {response['ResponseMetadata']['RequestId']} "
                                    "Error: Runtime exited with error: exit status 3")
    assert "Runtime.ExitError" in log
    after, log = ok(lam, name)
    assert "Init Duration" in log and after["host"] != first["host"]


def test_handler_killing_its_runtime_is_exit_error(lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam)
    response, body, _ = call(lam, name, "kill9")
    assert response.get("FunctionError") == "Unhandled", body
    assert body["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in body["errorMessage"]


def test_timeout_stops_only_the_environment_that_ran_over(server, lam) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam, Timeout=2)
    seen: set[str] = set()
    with ThreadPoolExecutor(3) as pool:
        # the slow one asks first, so the first environment up is its own and no quick one's is reused for it
        slow = pool.submit(call, lam, name, "sleep", s=6)
        time.sleep(0.3)
        quick = [pool.submit(call, lam, name, "sleep", s=0.5) for _ in range(2)]
        while not (slow.done() and all(f.done() for f in quick)):
            seen |= {e["ContainerId"] for e in environments(server, name)}
            time.sleep(0.05)
        quick_results = [future.result() for future in quick]
        response, body, log = slow.result()
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    quick_hosts = set()
    for quick_response, quick_body, _ in quick_results:
        assert "FunctionError" not in quick_response, quick_body
        quick_hosts.add(quick_body["host"])
    left = {e["ContainerId"] for e in environments(server, name)}
    [stopped] = seen - left  # exactly one environment went away: the slow one's
    assert stopped[:12] not in quick_hosts and gone(stopped)
    assert quick_hosts <= {c[:12] for c in left}  # the quick ones' environments are still there, running
    assert all(c.status == "running" for c in containers(server, name))
    assert ok(lam, name, "sleep", s=0)[0]["host"] in {c[:12] for c in left}  # and serve the next call warm
