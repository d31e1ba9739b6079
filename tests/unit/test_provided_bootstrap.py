"""The OS-only runtimes' entry script (runtimes/provided.al2023/bootstrap.sh), run on the host with
/bin/sh and curl against a scripted Runtime API: it takes on the function's environment from the
shell form of `GET /runtime/faas/specialize`, execs the function's own bootstrap, and reports the
init error Lambda reports when there is none."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from faas.sandbox.runtime_api import shell_exports
from tests.support.fake_runtime_api import FakeRuntimeApi

ENTRY = Path(__file__).resolve().parents[2] / "runtimes" / "provided.al2023" / "bootstrap.sh"
# Everything a shell could misread: quotes, expansions, command substitution, newlines, a trailing newline.
TRICKY = "it's \"$HOME\" `id` $(id) \\ ; | & * ~\nsecond line\n"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the entry script needs curl")


@pytest.fixture
def api():
    with FakeRuntimeApi() as fake:
        yield fake


def start(api: FakeRuntimeApi, task_root: Path, *, prewarmed: bool = True) -> subprocess.Popen:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": api.address,
                   "LAMBDA_TASK_ROOT": str(task_root), **({"FAAS_PREWARMED": "1"} if prewarmed else {})}
    return subprocess.Popen(["/bin/sh", str(ENTRY)], env=environment, cwd="/", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def finish(process: subprocess.Popen) -> tuple[int, bytes, bytes]:
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    return process.returncode, stdout, stderr


def write_bootstrap(task_root: Path, text: str, mode: int = 0o755) -> None:
    path = task_root / "bootstrap"
    path.write_text(text)
    path.chmod(mode)


def test_shell_exports_survive_evaluation_exactly():
    exports = shell_exports({"TRICKY": TRICKY, "EMPTY": "", "_HANDLER": "main"})
    result = subprocess.run(["/bin/sh", "-c", exports + 'printf "%s|%s|%s" "$TRICKY" "$EMPTY" "$_HANDLER"'],
                            env={"PATH": "/usr/bin:/bin"}, capture_output=True, check=True)
    assert result.stdout.decode() == f"{TRICKY}||main"


def test_shell_exports_leave_out_what_a_shell_cannot_take():
    exports = shell_exports({"GOOD": "1", "BAD-NAME": "2", "X; id": "3", "NUL": "a\0b"})
    assert exports == "export GOOD='1'\n"


def test_prewarmed_start_waits_takes_the_environment_and_execs_the_bootstrap(api, tmp_path):
    write_bootstrap(tmp_path, '#!/bin/sh\npwd\nexec env -0\n')
    process = start(api, tmp_path)
    api.wait_for_call("GET", "/faas/specialize")
    assert process.poll() is None and [c.path for c in api.calls] == ["/faas/specialize"]

    api.specialize({"_HANDLER": "anything", "TRICKY": TRICKY, "LAMBDA_TASK_ROOT": str(tmp_path)})
    code, stdout, _ = finish(process)
    assert code == 0
    cwd, _, listing = stdout.partition(b"\n")
    environment = dict(item.split("=", 1) for item in listing.decode().split("\0") if item)
    assert cwd.decode() == str(tmp_path)  # the function's code is the working directory, as on AWS
    assert environment["TRICKY"] == TRICKY and environment["_HANDLER"] == "anything"
    assert "FAAS_PREWARMED" not in environment
    assert api.posts() == []


def test_a_refused_specialization_ends_the_environment(api, tmp_path):
    write_bootstrap(tmp_path, "#!/bin/sh\necho ran\n")
    api.specialize(status=500)
    code, stdout, stderr = finish(start(api, tmp_path))
    assert code == 1 and stdout == b""
    assert b"specialize failed" in stderr and api.posts() == []


@pytest.mark.parametrize("mode", [None, 0o644], ids=["missing", "not-executable"])
def test_without_a_valid_bootstrap_the_init_error_is_lambdas(api, tmp_path, mode):
    if mode is not None:
        write_bootstrap(tmp_path, "#!/bin/sh\necho ran\n", mode)
    api.specialize({"LAMBDA_TASK_ROOT": str(tmp_path)})
    code, stdout, stderr = finish(start(api, tmp_path))
    assert code == 1 and b"ran" not in stdout
    # written before the init error, so the platform's pipe has it in that log
    assert stderr.decode() == f"Couldn't find valid bootstrap(s): [{tmp_path}/bootstrap /opt/bootstrap]\n"
    (error,) = api.posts()
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.InvalidEntrypoint"
    assert error.json() == {
        "errorMessage": f"Couldn't find valid bootstrap(s): [{tmp_path}/bootstrap /opt/bootstrap]",
        "errorType": "Runtime.InvalidEntrypoint", "stackTrace": []}


def test_a_cold_start_without_prewarming_execs_the_bootstrap_at_once(api, tmp_path):
    write_bootstrap(tmp_path, '#!/bin/sh\necho "started $LAMBDA_TASK_ROOT"\n')
    code, stdout, _ = finish(start(api, tmp_path, prewarmed=False))
    assert (code, stdout) == (0, f"started {tmp_path}\n".encode())
    assert api.calls == []
