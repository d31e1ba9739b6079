"""Bootstrap CPU benchmark: what one warm invocation costs each runtime's own loop, in CPU time.

Runs each bootstrap (runtimes/python3.13/bootstrap.py, runtimes/nodejs20.x/bootstrap.mjs) on the
host against a scripted Runtime API (tests/support/fake_runtime_api.py) that hands out N echo
events, and measures the child's user+system CPU. The baseline, measured in the same run, is the
same interpreter starting and exiting with nothing to do; per-invocation cost is
(bootstrap - baseline) / N. The fake API's own CPU is in this process and not counted.

Usage:  .venv/bin/python bench/bootstrap_cpu.py [--invocations 2000] [--markdown]
Needs: node on the host for the Node.js row (it is skipped, and says so, without it).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.fake_runtime_api import FakeRuntimeApi  # noqa: E402

RUNTIMES = {
    "python3.13": ([sys.executable, str(REPO / "runtimes/python3.13/bootstrap.py")],
                   [sys.executable, "-c", "pass"],
                   "app.py", "def handler(event, context):\n    return event\n"),
    "nodejs20.x": ([shutil.which("node") or "node", str(REPO / "runtimes/nodejs20.x/bootstrap.mjs")],
                   [shutil.which("node") or "node", "-e", ""],
                   "app.js", "exports.handler = async (event) => event;\n"),
}


def child_cpu(argv: list[str], env: dict[str, str], cwd: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(runtime: str, invocations: int) -> dict[str, float]:
    bootstrap, bare, filename, code = RUNTIMES[runtime]
    with tempfile.TemporaryDirectory() as task_root, FakeRuntimeApi() as api:
        Path(task_root, filename).write_text(code)
        for n in range(invocations):
            api.add({"n": n})
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": api.address,
               "LAMBDA_TASK_ROOT": task_root, "_HANDLER": "app.handler", "TZ": ":UTC",
               "AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
               "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/02/[$LATEST]0123456789abcdef0123456789abcdef",
               "PYTHONDONTWRITEBYTECODE": "1"}
        baseline = min(child_cpu(bare, env, task_root) for _ in range(3))
        total = child_cpu(bootstrap, env, task_root)
        answered = len(api.posts("/response"))
    if answered != invocations:
        raise SystemExit(f"{runtime}: {answered} of {invocations} invocations answered")
    return {"baseline_ms": baseline * 1000, "total_ms": total * 1000,
            "per_invocation_ms": (total - baseline) / invocations * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--markdown", action="store_true", help="print a table for docs/BENCHMARKS.md")
    args = parser.parse_args()
    rows = []
    for runtime in RUNTIMES:
        if runtime == "nodejs20.x" and shutil.which("node") is None:
            print("nodejs20.x: skipped, node is not installed on this host", file=sys.stderr)
            continue
        rows.append((runtime, measure(runtime, args.invocations)))
    if args.markdown:
        print(f"| runtime | interpreter start and exit (baseline) | bootstrap, {args.invocations} invocations "
              "| CPU per warm invocation |")
        print("| --- | --- | --- | --- |")
    for runtime, m in rows:
        if args.markdown:
            print(f"| {runtime} | {m['baseline_ms']:.0f} ms | {m['total_ms']:.0f} ms "
                  f"| {m['per_invocation_ms']:.3f} ms |")
        else:
            print(f"{runtime}: {m['per_invocation_ms']:.3f} ms CPU per warm invocation "
                  f"(baseline start {m['baseline_ms']:.0f} ms, total {m['total_ms']:.0f} ms)")


if __name__ == "__main__":
    main()
