"""The sandbox's resource and image rules under attack, through boto3 against a real `faas serve` and real
containers: images of other repositories or without the ECR pull permissions, CPU beyond the function's
share, /dev/shm and /tmp beyond its ephemeral storage, and the host paths a function can read from
/proc/self/mountinfo."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from faas.sandbox import images
from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_security_e2e import lambda_as, make_principal, put_policy, refused

pytestmark = pytest.mark.docker

MB = 1024 * 1024
SANDBOX_DIR = "/var/lib/faas-sandbox"  # FAAS_SANDBOX_DIR's default, which these servers use
RUNTIME_IMAGE = images.image_ref("faas", "python3.13")  # in the allowed faas/ repositories
REPOSITORY_ARN = "arn:aws:ecr:us-east-1:000000000000:repository/"

PROBE = r'''
import errno, os, time


def handler(event, context):
    return globals()["do_" + event["mode"]](event)


def do_cpu(event):
    """The CFS quota of this environment's cgroup (v1 or v2), and CPU time against wall time while burning."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
    except OSError:
        quota = open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read().strip()
        period = open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read().strip()
    cpu, wall, n = time.process_time(), time.monotonic(), 0
    while time.monotonic() - wall < event["burn_s"]:
        n += sum(range(1000))
    return {"quota": int(quota) if quota != "max" else -1, "period": int(period),
            "cpu_s": time.process_time() - cpu, "wall_s": time.monotonic() - wall}


def do_statfs(event):
    st = os.statvfs(event["path"])
    return {"size": st.f_blocks * st.f_frsize}


def do_fill(event):
    """Write into a file under `path` until `target` bytes are written or the file system refuses."""
    chunk, written, error = b"x" * (4 * 1024 * 1024), 0, None
    name = os.path.join(event["path"], "fill")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while written < event["target"]:
            written += os.write(fd, chunk[: event["target"] - written])
    except OSError as exc:
        error = [exc.errno, errno.errorcode[exc.errno]]
    finally:
        os.close(fd)
        os.unlink(name)
    return {"written": written, "error": error}


def do_mountinfo(event):
    return open("/proc/self/mountinfo").read()
'''
PROBE_ZIP = make_zip({"app.py": PROBE})


def deploy(lam, **extra) -> str:  # type: ignore[no-untyped-def]
    name = unique("probe")
    extra.setdefault("Timeout", 30)
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": PROBE_ZIP}, **extra)
    return name


def call(lam, name: str, mode: str, **event) -> tuple[dict, object]:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"mode": mode, **event}).encode())
    return response, json.loads(response["Payload"].read())


def ok(lam, name: str, mode: str, **event) -> object:  # type: ignore[no-untyped-def]
    response, body = call(lam, name, mode, **event)
    assert "FunctionError" not in response, body
    return body


def missing(lam, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        lam.get_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return True
    return False


@pytest.fixture(scope="module")
def other_tenants_image():  # type: ignore[no-untyped-def]
    """An image that is on the host but outside the allowed repositories: another tenant's, say."""
    client = docker.from_env()
    repository = f"tenant-b/private-{secrets.token_hex(4)}"
    client.images.get(RUNTIME_IMAGE).tag(repository, "1")
    yield f"{repository}:1"
    client.images.remove(f"{repository}:1", noprune=True)  # only the tag this fixture made


# --- images -------------------------------------------------------------------------------------------


def test_an_image_outside_the_allowed_repositories_is_refused(lam, other_tenants_image: str) -> None:  # type: ignore[no-untyped-def]
    image_id = docker.from_env().images.get(other_tenants_image).id
    attempts = (other_tenants_image, f"docker.io/{other_tenants_image}", image_id, image_id.split(":")[1][:12],
                f"{RUNTIME_IMAGE.split(':')[0]}@{image_id}")  # an allowed name with the other image's id
    for n, uri in enumerate(attempts):
        name = unique("img-steal")
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
            lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": uri},
                                ImageConfig={"EntryPoint": ["/bin/sh"], "Command": ["-c", "cat /etc/secret"]})
        if n == 0:
            assert info.value.response["Error"]["Message"] == (
                f"Source image {uri} is not in a repository this platform allows (allowed: faas/*).")
        assert missing(lam, name), uri

    # An image function already stored cannot be pointed at it either, and keeps its image.
    name = unique("img-own")
    lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": RUNTIME_IMAGE})
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_code(FunctionName=name, ImageUri=other_tenants_image)
    assert lam.get_function(FunctionName=name)["Code"]["ImageUri"] == RUNTIME_IMAGE


def test_using_an_image_needs_the_ecr_pull_permissions(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    principal = unique("builder")
    builder = lambda_as(server, make_principal(server, principal, [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE}]))
    zipped = deploy(builder)  # zip functions need no image permission
    assert ok(builder, zipped, "statfs", path="/tmp")["size"] == 512 * MB

    name = unique("img-denied")
    answer = refused(builder.create_function, FunctionName=name, PackageType="Image", Role=ROLE,
                     Code={"ImageUri": RUNTIME_IMAGE})
    repository = RUNTIME_IMAGE.split(":")[0]
    assert answer["Error"]["Message"].endswith(
        f"is not authorized to perform: ecr:BatchGetImage on resource: {REPOSITORY_ARN}{repository}")
    assert missing(lam, name)

    # One of the two pull actions is not enough; both, on that repository only, are.
    put_policy(server, principal, "pull", [
        {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": REPOSITORY_ARN + repository}])
    refused(builder.create_function, FunctionName=name, PackageType="Image", Role=ROLE,
            Code={"ImageUri": RUNTIME_IMAGE})
    assert missing(lam, name)
    put_policy(server, principal, "pull", [
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": REPOSITORY_ARN + repository}])
    builder.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": RUNTIME_IMAGE})
    assert lam.get_function(FunctionName=name)["Code"]["ImageUri"] == RUNTIME_IMAGE

    # Another allowed repository is still another repository: switching to it needs its own permission.
    other = images.base_ref("faas")
    refused(builder.update_function_code, FunctionName=name, ImageUri=other)
    assert lam.get_function(FunctionName=name)["Code"]["ImageUri"] == RUNTIME_IMAGE
    lam.update_function_code(FunctionName=name, ImageUri=other)  # the admin's AdministratorAccess may
    assert lam.get_function(FunctionName=name)["Code"]["ImageUri"] == other


# --- CPU ----------------------------------------------------------------------------------------------


def test_cpu_is_capped_in_proportion_to_memory(lam) -> None:  # type: ignore[no-untyped-def]
    small = deploy(lam, MemorySize=128)  # served by a prewarmed environment, which starts at 128 MB
    one_vcpu = deploy(lam, MemorySize=1769)  # a prewarmed environment resized on first use
    cold = deploy(lam, MemorySize=1769, EphemeralStorage={"Size": 1024})  # a container of its own
    burnt = ok(lam, small, "cpu", burn_s=1.5)
    assert (burnt["quota"], burnt["period"]) == (50_000, 100_000)  # the floor: half a vCPU
    # Only an upper bound: a busy host may give it less, never more.
    assert 0 < burnt["cpu_s"] / burnt["wall_s"] < 0.65, burnt
    for name in (one_vcpu, cold):
        limits = ok(lam, name, "cpu", burn_s=0)
        assert (limits["quota"], limits["period"]) == (100_000, 100_000), name  # one vCPU at 1,769 MB
    large = deploy(lam, MemorySize=10240)
    assert ok(lam, large, "cpu", burn_s=0)["quota"] == docker.from_env().info()["NCPU"] * 100_000  # the host's cores


# --- /dev/shm and /tmp --------------------------------------------------------------------------------


def test_dev_shm_is_bounded_by_ephemeral_storage(lam) -> None:  # type: ignore[no-untyped-def]
    default = deploy(lam, MemorySize=2048)
    larger = deploy(lam, MemorySize=2048, EphemeralStorage={"Size": 1024})
    assert ok(lam, default, "statfs", path="/dev/shm")["size"] == 512 * MB
    assert ok(lam, larger, "statfs", path="/dev/shm")["size"] == 1024 * MB
    filled = ok(lam, default, "fill", path="/dev/shm", target=600 * MB)
    assert filled["error"] == [28, "ENOSPC"] and 500 * MB <= filled["written"] <= 512 * MB, filled
    assert ok(lam, default, "fill", path="/dev/shm", target=100 * MB) == {"written": 100 * MB, "error": None}


def test_a_full_tmp_is_enospc_when_memory_can_hold_it(lam) -> None:  # type: ignore[no-untyped-def]
    roomy = deploy(lam, MemorySize=1024)  # memory above EphemeralStorage (512 MB): /tmp fills up first
    filled = ok(lam, roomy, "fill", path="/tmp", target=600 * MB)
    assert filled["error"] == [28, "ENOSPC"] and 500 * MB <= filled["written"] <= 512 * MB, filled
    assert ok(lam, roomy, "fill", path="/tmp", target=100 * MB) == {"written": 100 * MB, "error": None}

    # Below it, memory runs out before /tmp is full: the kernel stops the environment (documented).
    tight = deploy(lam, MemorySize=128)
    response, body = call(lam, tight, "fill", path="/tmp", target=600 * MB)
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError", body
    assert "signal: killed" in body["errorMessage"]
    assert ok(lam, tight, "statfs", path="/tmp")["size"] == 512 * MB  # a fresh environment serves the next one


# --- what a function learns of the host ---------------------------------------------------------------


def test_mountinfo_shows_neither_the_data_dir_nor_other_functions(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    node = (server.data_dir / "node-id").read_text().strip()
    prewarmed = deploy(lam)
    cold = deploy(lam, EphemeralStorage={"Size": 1024})
    slots = []
    for name in (prewarmed, cold):
        text = ok(lam, name, "mountinfo")
        assert isinstance(text, str) and "/var/task" in text
        code_sha = base64.b64decode(lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]).hex()
        for needle in (str(server.data_dir), server.data_dir.name, str(server.data_dir.parent), code_sha,
                       hashlib.sha256(PROBE_ZIP).hexdigest(), name, prewarmed, cold):
            assert needle not in text, f"{needle!r} is in {name}'s mountinfo"
        [task] = [line.split() for line in text.splitlines() if line.split()[4] == "/var/task"]
        assert re.fullmatch(rf"{SANDBOX_DIR}/{node}/slots/[0-9a-f]{{16}}", task[3]), task[3]
        assert task[5].startswith("ro")
        slots.append(Path(task[3]))
    assert slots[0] != slots[1] and all(slot.is_dir() for slot in slots)

    # An environment's directory goes with it.
    lam.delete_function(FunctionName=cold)
    deadline = time.monotonic() + 15
    while slots[1].exists():
        assert time.monotonic() < deadline, f"{slots[1]} outlived its environment"
        time.sleep(0.1)
