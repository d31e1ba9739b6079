"""What an execution environment looks like, as a pure value built from a function and the settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from faas.model import LATEST, Function

PREWARM_MEMORY_MB = 128  # prewarmed environments start at Lambda's smallest size and grow on specialisation
PREWARM_TMP_MB = 512  # /tmp cannot be resized once running: other EphemeralStorage sizes start cold
SANDBOX_USER = "993:993"  # the uid Lambda's own sandboxes run as; no such user exists on the host
PIDS_LIMIT = 1024
# Lambda gives one full vCPU at 1,769 MB; the CPU quota and weight follow memory the same way.
MB_PER_VCPU = 1769
# Below 885 MB the quota stays at half a vCPU (Lambda's share at 128 MB would be 7%): a runtime's own
# start and the handler's imports take milliseconds rather than seconds, and one warm environment still
# keeps up with a caller invoking it back to back (its runtime spends ~0.4 ms of CPU per invocation).
MIN_VCPUS = 0.5


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    image: str
    environment: dict[str, str]
    labels: dict[str, str]
    memory_mb: int
    cpu_shares: int
    cpus: float  # hard CPU quota in vCPUs (the backend caps it at the host's cores)
    pids_limit: int
    tmp_size_mb: int
    shm_size_mb: int  # /dev/shm, bounded like /tmp by the function's ephemeral storage
    user: str
    code_dir: str | None  # host directory mounted read-only at /var/task
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    working_dir: str | None = None
    output_pipe: str | None = None  # host FIFO the container's stdout and stderr go to (faas/sandbox/output.py)


def log_stream_name(now: dt.datetime) -> str:
    return f"{now:%Y/%m/%d}/[{LATEST}]{secrets.token_hex(16)}"


def base_environment(*, region: str, runtime_api: str) -> dict[str, str]:
    """The variables that do not depend on the function: all a prewarmed environment starts with."""
    return {
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
    }


def lambda_environment(fn: Function, *, region: str, runtime_api: str, log_stream: str) -> dict[str, str]:
    """The variables every Lambda runtime expects, plus the function's own."""
    env = dict(fn.environment)
    env.update(base_environment(region=region, runtime_api=runtime_api))
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": LATEST,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
    })
    if fn.logging_config.get("LogFormat") == "JSON":  # as AWS's runtimes are told (Text leaves them alone)
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = fn.logging_config["ApplicationLogLevel"]
    if fn.package_type == "Zip":
        env["_HANDLER"] = fn.handler or ""
        if os_only(fn.runtime):
            env.pop("AWS_EXECUTION_ENV", None)  # as on AWS: the OS-only runtimes have no execution env
        else:
            env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{fn.runtime}"
    return env


def os_only(runtime: str | None) -> bool:
    """An OS-only runtime (provided.al2023, provided.al2): the function's own bootstrap is the runtime."""
    return (runtime or "").startswith("provided")


def container_spec(fn: Function, *, image: str, region: str, runtime_api: str, node_id: str,
                   code_dir: str | None, environment: dict[str, str], output_pipe: str | None = None) -> ContainerSpec:
    """A function's own container. For zip functions `environment` is only the generic part: the
    function's variables and credentials reach the runtime over the Runtime API (`specialize`), so
    they never sit in Docker's container config on disk."""
    return ContainerSpec(
        image=image,
        environment=environment,
        labels={
            "faas.node": node_id,
            "faas.function": fn.name,
            "faas.revision": fn.revision_id,
        },
        memory_mb=fn.memory_size,
        cpu_shares=cpu_shares(fn.memory_size),
        cpus=vcpus(fn.memory_size),
        pids_limit=PIDS_LIMIT,
        tmp_size_mb=fn.ephemeral_storage,
        shm_size_mb=fn.ephemeral_storage,
        user=SANDBOX_USER,
        code_dir=code_dir,
        entrypoint=fn.image_config.get("EntryPoint"),
        command=fn.image_config.get("Command"),
        working_dir=fn.image_config.get("WorkingDirectory"),
        output_pipe=output_pipe,
    )


def generic_environment(*, region: str, runtime_api: str) -> dict[str, str]:
    """What a runtime starts with when it will be told its function's environment over the Runtime API."""
    return {**base_environment(region=region, runtime_api=runtime_api), "FAAS_PREWARMED": "1"}


def prewarmed_spec(runtime: str, *, image: str, region: str, runtime_api: str, node_id: str,
                   slot: str, output_pipe: str | None = None, memory_mb: int = PREWARM_MEMORY_MB) -> ContainerSpec:
    """A generic environment of a runtime: it waits on the Runtime API to be bound to a function."""
    return ContainerSpec(
        image=image,
        environment=generic_environment(region=region, runtime_api=runtime_api),
        labels={"faas.node": node_id, "faas.prewarmed": runtime},
        memory_mb=memory_mb,
        cpu_shares=cpu_shares(memory_mb),
        cpus=vcpus(memory_mb),
        pids_limit=PIDS_LIMIT,
        tmp_size_mb=PREWARM_TMP_MB,
        shm_size_mb=PREWARM_TMP_MB,
        user=SANDBOX_USER,
        code_dir=slot,
        output_pipe=output_pipe,
    )


def cpu_shares(memory_mb: int) -> int:
    return max(2, memory_mb * 1024 // MB_PER_VCPU)


def vcpus(memory_mb: int) -> float:
    """Lambda's CPU for a memory size: one vCPU per 1,769 MB, never below MIN_VCPUS."""
    return max(MIN_VCPUS, memory_mb / MB_PER_VCPU)
