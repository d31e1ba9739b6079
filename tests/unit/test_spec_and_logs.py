"""Pure values of the sandbox and the invoke path: container specs, Docker create arguments, metering, log lines."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re

import docker.types
import pytest

import json

from faas.dispatch.logs import (
    MAX_STORED_LOG_CHARS,
    TAIL_BYTES,
    invocation_log,
    json_invocation_log,
    log_tail,
    report_line,
)
from faas.billing import billed_duration_ms
from faas.model import Function
from faas.sandbox.docker_backend import CPU_PERIOD_US, OUTPUT_WRAPPER, cpu_quota_us, create_kwargs, entry_argv
from faas.sandbox.spec import (
    MB_PER_VCPU,
    MIN_VCPUS,
    ContainerSpec,
    container_spec,
    generic_environment,
    lambda_environment,
    log_stream_name,
)

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
PLATFORM_KEYS = {
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_RUNTIME_API", "AWS_REGION", "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
}


def function(**changes) -> Function:
    fn = Function(
        name="fn", runtime="python3.13", handler="app.handler", role="arn:aws:iam::123456789012:role/r",
        description="", memory_size=128, timeout=3, ephemeral_storage=512, environment={}, package_type="Zip",
        code_sha256="ab" * 32, code_size=100, image_uri=None, image_config={}, revision_id="rev-1",
        last_modified=NOW,
    )
    return fn.replace(**changes)


def image_function(**changes) -> Function:
    return function(runtime=None, handler=None, package_type="Image", code_sha256=None, code_size=0,
                    image_uri="my-image:1", **changes)


def spec_of(fn: Function, code_dir: str | None = "/var/lib/faas/code/abab") -> ContainerSpec:
    environment = lambda_environment(fn, region="eu-west-1", runtime_api="172.18.0.1:9001",
                                     log_stream="2026/11/27/[$LATEST]00ff")
    return container_spec(fn, image="faas/python3.13:abc", region="eu-west-1", runtime_api="172.18.0.1:9001",
                          node_id="node-1", code_dir=code_dir, environment=environment)


def test_a_generic_environment_carries_nothing_of_any_function():
    env = generic_environment(region="eu-west-1", runtime_api="172.18.0.1:9001")
    assert env["FAAS_PREWARMED"] == "1" and env["AWS_LAMBDA_RUNTIME_API"] == "172.18.0.1:9001"
    assert not any(k.startswith(("AWS_LAMBDA_FUNCTION", "AWS_ACCESS", "AWS_SECRET", "AWS_SESSION")) for k in env)
    assert "_HANDLER" not in env


# -- container_spec -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "expected"), [
    (function(), {"memory_mb": 128, "cpu_shares": 128 * 1024 // MB_PER_VCPU, "cpus": MIN_VCPUS,
                  "tmp_size_mb": 512, "shm_size_mb": 512}),
    (function(memory_size=896),  # above the floor: proportional
     {"memory_mb": 896, "cpus": 896 / MB_PER_VCPU, "tmp_size_mb": 512, "shm_size_mb": 512}),
    (function(memory_size=MB_PER_VCPU), {"memory_mb": MB_PER_VCPU, "cpu_shares": 1024, "cpus": 1.0,
                                         "tmp_size_mb": 512, "shm_size_mb": 512}),
    (function(memory_size=2 * MB_PER_VCPU, ephemeral_storage=4096),
     {"memory_mb": 2 * MB_PER_VCPU, "cpu_shares": 2048, "cpus": 2.0, "tmp_size_mb": 4096, "shm_size_mb": 4096}),
    (function(memory_size=10240, ephemeral_storage=10240),
     {"memory_mb": 10240, "cpu_shares": 10240 * 1024 // MB_PER_VCPU, "cpus": 10240 / MB_PER_VCPU,
      "tmp_size_mb": 10240, "shm_size_mb": 10240}),
    (image_function(memory_size=256), {"memory_mb": 256, "cpu_shares": 256 * 1024 // MB_PER_VCPU,
                                       "cpus": MIN_VCPUS, "tmp_size_mb": 512, "shm_size_mb": 512}),
], ids=["128MB", "896MB", "one-vcpu", "two-vcpus", "max", "image"])
def test_limits_follow_the_function(fn, expected):
    spec = spec_of(fn)
    assert {key: getattr(spec, key) for key in expected} == expected
    assert spec.user == "993:993"
    assert spec.pids_limit > 0
    assert spec.image == "faas/python3.13:abc"


def test_cpu_shares_are_proportional_to_memory():
    shares = {mb: spec_of(function(memory_size=mb)).cpu_shares for mb in (128, 256, 512, 1024, 2048, 4096, 10240)}
    for mb, value in shares.items():
        assert abs(value - mb * 1024 / MB_PER_VCPU) < 1, (mb, value)
    assert shares[256] in (2 * shares[128], 2 * shares[128] + 1)
    assert min(shares.values()) >= 2  # Docker's minimum


@pytest.mark.parametrize(("memory_mb", "host_cpus", "quota"), [
    (128, 2, 50_000), (884, 2, 50_000), (MB_PER_VCPU, 2, 100_000), (MB_PER_VCPU // 2 + 1, 2, 50_028),
    (2 * MB_PER_VCPU, 2, 200_000), (10240, 2, 200_000), (10240, 8, 578_858), (10240, None, 578_858),
])
def test_cpu_quota_follows_memory_up_to_the_hosts_cores(memory_mb, host_cpus, quota):
    fn = function(memory_size=memory_mb)
    assert cpu_quota_us(spec_of(fn).cpus, host_cpus) == quota
    assert create_kwargs(spec_of(fn), "faas", host_cpus)["host_config"]["cpu_quota"] == quota


def test_labels_name_the_node_function_and_revision():
    assert spec_of(function(name="orders", revision_id="rev-9")).labels == {
        "faas.node": "node-1", "faas.function": "orders", "faas.revision": "rev-9",
    }


def test_code_dir_is_passed_through():
    assert spec_of(function(), code_dir="/x/y").code_dir == "/x/y"
    assert spec_of(image_function(), code_dir=None).code_dir is None


def test_zip_function_environment():
    env = spec_of(function(name="orders", memory_size=256, environment={"DB": "postgres://x"})).environment
    assert env == {
        "DB": "postgres://x",
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/orders",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]00ff",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": "172.18.0.1:9001",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "_HANDLER": "app.handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    }
    assert all(isinstance(v, str) for v in env.values())


@pytest.mark.parametrize("make", [function, image_function], ids=["zip", "image"])
def test_function_env_cannot_override_platform_variables(make):
    hostile = {key: "hijacked" for key in PLATFORM_KEYS | {"_HANDLER", "AWS_EXECUTION_ENV"}}
    fn = make(environment={**hostile, "MINE": "kept"})
    env = lambda_environment(fn, region="eu-west-1", runtime_api="10.0.0.1:1", log_stream="s")
    assert env["MINE"] == "kept"
    for key in PLATFORM_KEYS:
        assert env[key] != "hijacked", key
    if fn.package_type == "Zip":
        assert env["_HANDLER"] == "app.handler"
        assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"


def test_os_only_runtimes_get_the_handler_but_no_execution_env():
    for runtime in ("provided.al2023", "provided.al2"):
        fn = function(runtime=runtime, handler="anything", environment={"AWS_EXECUTION_ENV": "hijacked"})
        env = lambda_environment(fn, region="eu-west-1", runtime_api="10.0.0.1:1", log_stream="s")
        assert env["_HANDLER"] == "anything"
        assert env["LAMBDA_TASK_ROOT"] == "/var/task"
        assert "AWS_EXECUTION_ENV" not in env


def test_function_env_is_not_modified():
    fn = function(environment={"A": "1"})
    spec_of(fn)
    assert fn.environment == {"A": "1"}


def test_image_function_gets_its_image_config_and_no_handler():
    fn = image_function(image_config={"EntryPoint": ["/lambda-entrypoint.sh"], "Command": ["app.handler"],
                                      "WorkingDirectory": "/app"})
    spec = spec_of(fn, code_dir=None)
    assert spec.entrypoint == ["/lambda-entrypoint.sh"]
    assert spec.command == ["app.handler"]
    assert spec.working_dir == "/app"
    assert "_HANDLER" not in spec.environment
    assert "AWS_EXECUTION_ENV" not in spec.environment
    assert spec.environment["AWS_LAMBDA_FUNCTION_NAME"] == "fn"


def test_image_function_without_image_config_keeps_the_images_own():
    spec = spec_of(image_function(), code_dir=None)
    assert (spec.entrypoint, spec.command, spec.working_dir) == (None, None, None)


def test_zip_function_has_no_image_overrides():
    spec = spec_of(function())
    assert (spec.entrypoint, spec.command, spec.working_dir) == (None, None, None)


def test_log_stream_name():
    first, second = log_stream_name(NOW), log_stream_name(NOW)
    assert re.fullmatch(r"2026/11/27/\[\$LATEST\][0-9a-f]{32}", first)
    assert first != second


# -- Docker create arguments ----------------------------------------------------------------------


def test_create_kwargs_apply_every_limit():
    spec = spec_of(function(memory_size=256, ephemeral_storage=1024), code_dir="/var/lib/faas/code/abab")
    kwargs = create_kwargs(spec, "faas")
    assert kwargs["image"] == spec.image
    assert kwargs["user"] == "993:993"
    assert kwargs["environment"] == spec.environment
    assert kwargs["labels"] == spec.labels
    host = kwargs["host_config"]
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert "cap_add" not in host
    assert "no-new-privileges" in host["security_opt"]
    assert host["mem_limit"] == 256 * 1024 * 1024
    assert host["memswap_limit"] == host["mem_limit"]
    assert host["cpu_shares"] == spec.cpu_shares
    assert host["cpu_period"] == CPU_PERIOD_US and host["cpu_quota"] == int(MIN_VCPUS * CPU_PERIOD_US) == 50_000
    assert host["shm_size"] == 1024 * 1024 * 1024 and host["ipc_mode"] == "private"
    assert host["pids_limit"] == spec.pids_limit > 0
    assert set(host["tmpfs"]) == {"/tmp"}
    assert "size=1024m" in host["tmpfs"]["/tmp"].split(",")
    assert "nosuid" in host["tmpfs"]["/tmp"].split(",")
    assert host["binds"] == {"/var/lib/faas/code/abab": {"bind": "/var/task", "mode": "ro"}}
    assert host["network_mode"] == "faas"
    assert not host.get("privileged")
    assert "/var/run/docker.sock" not in repr(kwargs)


def test_create_kwargs_without_code_dir_mount_nothing():
    host = create_kwargs(spec_of(image_function(), code_dir=None), "other-net")["host_config"]
    assert host["binds"] is None
    assert host["network_mode"] == "other-net"


IMAGE_CONFIG = {"Entrypoint": ["/usr/bin/python3", "-m", "awslambdaric"], "Cmd": ["app.handler"]}


@pytest.mark.parametrize("image_config, expected", [
    ({}, ["/usr/bin/python3", "-m", "awslambdaric", "app.handler"]),
    ({"Command": ["other.handler"]}, ["/usr/bin/python3", "-m", "awslambdaric", "other.handler"]),
    ({"EntryPoint": ["/bin/run"]}, ["/bin/run"]),  # Docker's rule: a new entrypoint drops the image's command
    ({"EntryPoint": ["/bin/run"], "Command": ["a", "b"]}, ["/bin/run", "a", "b"]),
])
def test_the_wrapped_entry_is_the_process_docker_would_start(image_config, expected):
    assert entry_argv(spec_of(image_function(image_config=image_config), code_dir=None), IMAGE_CONFIG) == expected


def test_the_container_writes_its_output_to_the_platforms_pipe():
    spec = dataclasses.replace(spec_of(function()), output_pipe="/sandbox/node/outputs/00ff")
    kwargs = create_kwargs(spec, "faas", entry=["/usr/bin/python3", "/var/runtime/bootstrap.py"])
    assert kwargs["entrypoint"] == OUTPUT_WRAPPER == ["/bin/sh", "-c", 'exec "$@" >/dev/faas-output 2>&1',
                                                      "faas-output"]
    assert kwargs["command"] == ["/usr/bin/python3", "/var/runtime/bootstrap.py"]
    assert kwargs["host_config"]["binds"] == {
        "/var/lib/faas/code/abab": {"bind": "/var/task", "mode": "ro"},
        "/sandbox/node/outputs/00ff": {"bind": "/dev/faas-output", "mode": "ro"},
    }
    assert kwargs["host_config"]["read_only"] is True and kwargs["user"] == "993:993"
    # An image without /bin/sh (no entry to wrap) starts as it is, its output left to Docker.
    unwrapped = create_kwargs(spec, "faas", entry=None)
    assert (unwrapped["entrypoint"], unwrapped["command"]) == (None, None)
    assert set(unwrapped["host_config"]["binds"]) == {"/var/lib/faas/code/abab"}


def test_create_kwargs_are_accepted_by_the_docker_sdk():
    """The SDK turns them into the engine's HostConfig; a misspelt argument would fail here."""
    kwargs = create_kwargs(spec_of(function(memory_size=512)), "faas")
    host = docker.types.HostConfig(version="1.41", **kwargs["host_config"])
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Memory"] == host["MemorySwap"] == 512 * 1024 * 1024
    assert host["PidsLimit"] == kwargs["host_config"]["pids_limit"]
    assert host["Binds"] == ["/var/lib/faas/code/abab:/var/task:ro"]
    assert host["NetworkMode"] == "faas"
    assert "/tmp" in host["Tmpfs"]
    assert host["AutoRemove"] is True
    assert (host["CpuPeriod"], host["CpuQuota"]) == (CPU_PERIOD_US, CPU_PERIOD_US // 2)  # the floor
    assert host["ShmSize"] == 512 * 1024 * 1024 and host["IpcMode"] == "private"
    assert set(kwargs) - {"host_config"} <= {"image", "entrypoint", "command", "working_dir", "environment",
                                             "labels", "user"}


# -- metering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("duration", "billed"), [
    (0, 100), (0.1, 100), (99.99, 100), (100, 100), (100.01, 200), (199.999, 200), (200, 200), (250, 300),
    (900_000, 900_000), (899_999.5, 900_000),
])
def test_billed_duration(duration, billed):
    assert billed_duration_ms(duration) == billed
    assert isinstance(billed_duration_ms(duration), int)


# -- logs -----------------------------------------------------------------------------------------

REQUEST_ID = "8f5a3c2e-1d4b-4e7f-9a6b-0c1d2e3f4a5b"


def test_report_line_without_init_duration():
    line = report_line(REQUEST_ID, duration_ms=12.345, billed_ms=100, memory_mb=128, max_used_mb=41,
                       init_duration_ms=None)
    assert line == (f"REPORT RequestId: {REQUEST_ID}\tDuration: 12.35 ms\tBilled Duration: 100 ms\t"
                    "Memory Size: 128 MB\tMax Memory Used: 41 MB\t")


def test_report_line_with_init_duration():
    line = report_line(REQUEST_ID, duration_ms=1500, billed_ms=1500, memory_mb=1024, max_used_mb=512,
                       init_duration_ms=250.5)
    assert line == (f"REPORT RequestId: {REQUEST_ID}\tDuration: 1500.00 ms\tBilled Duration: 1500 ms\t"
                    "Memory Size: 1024 MB\tMax Memory Used: 512 MB\tInit Duration: 250.50 ms\t")


def test_invocation_log_frames_the_output():
    log = invocation_log(REQUEST_ID, "hello\nworld\n", "REPORT x")
    assert log == (f"START RequestId: {REQUEST_ID} Version: $LATEST\nhello\nworld\n"
                   f"END RequestId: {REQUEST_ID}\nREPORT x\n")


def test_invocation_log_ends_output_with_a_newline():
    log = invocation_log(REQUEST_ID, "no newline", "REPORT x")
    assert f"no newline\nEND RequestId: {REQUEST_ID}\n" in log


def test_invocation_log_without_output():
    assert invocation_log(REQUEST_ID, "", "REPORT x") == (
        f"START RequestId: {REQUEST_ID} Version: $LATEST\nEND RequestId: {REQUEST_ID}\nREPORT x\n"
    )


def test_invocation_log_keeps_the_end_of_long_output():
    output = "first line\n" + "x" * MAX_STORED_LOG_CHARS + "\nthe failure\n"
    log = invocation_log(REQUEST_ID, output, "REPORT x")
    lines = log.split("\n")
    assert lines[0] == f"START RequestId: {REQUEST_ID} Version: $LATEST"
    assert lines[1] == "[faas] earlier output truncated"
    assert "first line" not in log
    assert log.endswith(f"the failure\nEND RequestId: {REQUEST_ID}\nREPORT x\n")
    assert len(log) < MAX_STORED_LOG_CHARS + 300


def test_invocation_log_does_not_truncate_output_at_the_limit():
    output = "y" * (MAX_STORED_LOG_CHARS - 1) + "\n"
    log = invocation_log(REQUEST_ID, output, "REPORT x")
    assert "truncated" not in log and output in log


def test_log_tail_is_base64_of_the_last_4_kb():
    assert TAIL_BYTES == 4096
    log = "".join(f"line {i}\n" for i in range(2000))
    tail = base64.b64decode(log_tail(log))
    assert tail == log.encode()[-4096:]
    assert len(tail) == 4096


def test_log_tail_of_a_short_log_is_the_whole_log():
    assert base64.b64decode(log_tail("START\nEND\n")) == b"START\nEND\n"
    assert log_tail("") == ""


def test_log_tail_counts_bytes_not_characters():
    log = "é" * 3000  # 6000 bytes
    assert base64.b64decode(log_tail(log)) == log.encode()[-4096:]


JSON_LOGGING = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO"}


def test_json_log_format_reaches_the_runtime_as_aws_variables():
    env = spec_of(function(logging_config=JSON_LOGGING, environment={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})).environment
    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "WARN")
    text = spec_of(function(environment={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})).environment
    assert "AWS_LAMBDA_LOG_FORMAT" not in text and text["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"  # Text: as before


def json_log(system_level: str, init_duration_ms: float | None = 812.5) -> str:
    return json_invocation_log(REQUEST_ID, '{"level": "WARN"}', started=NOW, status="success",
                               system_level=system_level, duration_ms=12.3456, billed_ms=13, memory_mb=128,
                               max_used_mb=41, init_duration_ms=init_duration_ms)


def test_json_invocation_log_has_platform_start_and_report_records():
    start, output, report = (json.loads(line) for line in json_log("INFO").splitlines())
    assert start == {"time": "2026-11-27T12:00:00.000Z", "type": "platform.start",
                     "record": {"requestId": REQUEST_ID, "version": "$LATEST"}}
    assert output == {"level": "WARN"}
    assert report == {"time": "2026-11-27T12:00:00.012Z", "type": "platform.report", "record": {
        "requestId": REQUEST_ID, "status": "success", "metrics": {
            "durationMs": 12.346, "billedDurationMs": 13, "memorySizeMB": 128, "maxMemoryUsedMB": 41,
            "initDurationMs": 812.5}}}
    assert "initDurationMs" not in json_log("DEBUG", None)


def test_json_invocation_log_drops_platform_records_below_the_system_level():
    assert json_log("WARN") == '{"level": "WARN"}\n'
