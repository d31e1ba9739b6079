"""A runtime recipe's pinned third-party packages (the AWS SDKs), fetched on the host into the image's
build context: image builds and containers cannot reach PyPI or npm, the host can.

A recipe declares them in its sdk/ folder, which is part of the recipe and so of its hash:

  sdk/requirements.txt    pip requirements, each `name==version --hash=sha256:...`: pure-Python
                          wheels, downloaded with `pip download` and unpacked into sdk/python/
  sdk/package-lock.json   an npm lock file beside its sdk/package.json: `npm ci` into
                          sdk/node_modules/

What they fetch lives only in the temporary build context, never in the recipe directory.
"""

from __future__ import annotations

import collections
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from faas.errors import StartupError

SDK_DIR = "sdk"
# Folders of @aws-sdk/*, @aws/* and @smithy/* packages that Node never loads: TypeScript declarations
# and the ES-module builds, which every package's "main" and "node" export pass over for dist-cjs.
# Lambda's own images ship dist-cjs only; these are three quarters of the bytes.
_NODE_UNUSED_BUILDS = ("dist-types", "dist-es")
_NODE_SCOPES = ("@aws-sdk", "@aws", "@smithy")
# pip's lines worth showing while it works; the rest (warnings about this host's own indexes) only
# on failure.
_PIP_PROGRESS_LINE = re.compile(r"^(Collecting|Downloading|Saved|Successfully) ")


def fetch(context: Path, runtime: str, progress: Callable[[str], None]) -> None:
    """Fill the build context's sdk/ folder with what its pins name (nothing if it has no sdk/)."""
    sdk = context / SDK_DIR
    if (sdk / "requirements.txt").is_file():
        _fetch_python(sdk, runtime, progress)
    if (sdk / "package-lock.json").is_file():
        _fetch_node(sdk, runtime, progress)


def _python_version(runtime: str) -> str:
    match = re.fullmatch(r"python(\d+\.\d+)", runtime)
    if match is None:
        raise StartupError(f"runtime {runtime} has {SDK_DIR}/requirements.txt but is no pythonX.Y runtime")
    return match.group(1)


def _fetch_python(sdk: Path, runtime: str, progress: Callable[[str], None]) -> None:
    python_version = _python_version(runtime)
    if importlib.util.find_spec("pip") is None:
        raise StartupError(f"{runtime}: pip is needed to fetch the packages pinned in "
                           f"{SDK_DIR}/requirements.txt: {sys.executable} -m ensurepip")
    requirements = sdk / "requirements.txt"
    wheels = sdk / "wheels"
    # Pure-Python wheels for the image's Python, whatever this host runs; --require-hashes: only the
    # pinned files, byte for byte.
    target = ["--no-deps", "--require-hashes", "--only-binary=:all:", "--implementation", "py",
              "--platform", "any", "--python-version", python_version, "-r", str(requirements)]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    progress(f"{runtime}: fetching the Python packages pinned in {SDK_DIR}/requirements.txt (pip download)...")
    _run([*pip, "download", "--progress-bar", "off", "--dest", str(wheels), *target], sdk, progress,
         failure=f"{runtime}: cannot download the Python packages pinned in {SDK_DIR}/requirements.txt; is "
                 "the package index (PyPI, or the one pip is configured with) reachable from this host?")
    _run([*pip, "install", "--progress-bar", "off", "--no-index", "--find-links", str(wheels),
          "--target", str(sdk / "python"), "--no-compile", *target], sdk, progress,
         failure=f"{runtime}: cannot unpack the wheels downloaded for {SDK_DIR}/requirements.txt")
    shutil.rmtree(wheels)
    # Console scripts (jmespath's jp.py) are not on the image's PATH; Lambda ships none either.
    shutil.rmtree(sdk / "python" / "bin", ignore_errors=True)


def _fetch_node(sdk: Path, runtime: str, progress: Callable[[str], None]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise StartupError(f"{runtime}: npm is needed to fetch the packages pinned in "
                           f"{SDK_DIR}/package-lock.json: apt-get install -y npm")
    progress(f"{runtime}: fetching the npm packages pinned in {SDK_DIR}/package-lock.json (npm ci)...")
    # --ignore-scripts: nothing fetched runs on this host.
    _run([npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier"],
         sdk, progress, failure=f"{runtime}: cannot install the npm packages pinned in {SDK_DIR}/package-lock.json; "
                                "is the npm registry (or the one npm is configured with) reachable from this host?",
         show=lambda line: line.startswith("added "))
    for scope in _NODE_SCOPES:
        for package in (sdk / "node_modules" / scope).glob("*"):
            for build in _NODE_UNUSED_BUILDS:
                shutil.rmtree(package / build, ignore_errors=True)


def _run(command: Sequence[str], cwd: Path, progress: Callable[[str], None], *, failure: str,
         show: Callable[[str], bool] = lambda line: bool(_PIP_PROGRESS_LINE.match(line))) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=30)
    try:
        with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", stdin=subprocess.DEVNULL) as process:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip()
                tail.append(line)
                if show(line):
                    progress(f"  {line}")
    except OSError as exc:
        raise StartupError(f"{failure}: {exc}") from exc
    if process.returncode != 0:
        details = "\n".join(tail)
        raise StartupError(f"{failure} (exit {process.returncode}):\n{details}")
