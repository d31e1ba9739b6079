"""A function's third-party dependencies, fetched on the host (containers cannot reach PyPI or npm) and
cached by the hash of the file that pins them. A cache entry is laid out as the zip holds it: Python
wheels unpacked at the root (first on sys.path), Node's node_modules as `npm ci --omit=dev` leaves it."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from faas.cli.common import print_to_stderr
from faas.errors import ConfigError, FaasError

CACHE_KEEP_S = 30 * 86400  # an entry unused this long is removed when the next one is built
ABANDONED_BUILD_S = 86400  # a ".building-" folder this old belongs to a build that died
CACHE_FORMAT = "1"  # part of every key: a change to how a cache entry is laid out invalidates the old ones
REQUIREMENTS = "requirements.txt"
PACKAGE_JSON = "package.json"
PACKAGE_LOCK = "package-lock.json"
# The glibc manylinux tags the runtime images (Debian trixie, glibc 2.41) can load. pip does not widen a
# manylinux_2_X tag to older ones, so each is named; manylinux2014 brings 2010 and manylinux1 with it.
MANYLINUX_GLIBCS = ("2_17", "2_24", "2_28", "2_31", "2_34", "2_35", "2_36", "2_38", "2_39")
# Lines of a requirements file that name other files or local source: their content would escape the
# cache key, or need building on the host for another platform.
UNSUPPORTED_OPTIONS = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable")

# A tool run: argv and working folder in; exit status and its output lines out (streamed to the user).
Runner = Callable[[Sequence[str], Path], tuple[int, list[str]]]


class BuildError(FaasError):
    """A function's dependencies could not be built."""


@dataclass(frozen=True)
class Language:
    """What a runtime needs to build its dependencies."""

    name: str  # "python" or "node"
    version: str  # the runtime's language version: "3.13", "20"
    manifest: str  # the file that lists the dependencies


def language_of(runtime: str) -> Language:
    if match := re.fullmatch(r"python(\d+\.\d+)", runtime):
        return Language("python", match[1], REQUIREMENTS)
    if match := re.fullmatch(r"nodejs(\d+)\.x", runtime):
        return Language("node", match[1], PACKAGE_JSON)
    raise ConfigError(f"faas build knows Python (pythonX.Y) and Node.js (nodejsNN.x) runtimes, not {runtime!r}")


def machine() -> str:
    """The host's CPU as wheel tags name it: the containers run on the same CPU."""
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def check_requirements(text: str) -> int:
    """How many requirements the file lists; a line pip would refuse, or that the cache key cannot cover,
    is refused with its number."""
    count = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        option = line.split("=", 1)[0].split()[0]
        if option in UNSUPPORTED_OPTIONS:
            raise ConfigError(f"{REQUIREMENTS} line {number}: {option} is not supported by faas build "
                              f"(list the requirements in this one file, as released packages)")
        if line.startswith("-"):
            continue  # --index-url, --extra-index-url, --pre...: pip's own options, passed to it as they are
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise ConfigError(f"{REQUIREMENTS} line {number}: {raw.strip()!r} is not a requirement: {exc}") from exc
        count += 1
    return count


def cache_key(language: Language, files: dict[str, bytes], arch: str) -> str:
    """The hash of what pins the dependencies (the lock file, or the manifest without one), with what else
    decides the result: the language version and the CPU."""
    digest = hashlib.sha256(f"faas-build {CACHE_FORMAT} {language.name} {language.version} {arch}\n".encode())
    for name in sorted(files):
        digest.update(f"{name} {len(files[name])}\n".encode())
        digest.update(files[name])
    return digest.hexdigest()[:32]


def cache_root(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "faas" / "build"


def stream(argv: Sequence[str], cwd: Path) -> tuple[int, list[str]]:
    """Run a tool, echoing its output to stderr as it comes (that is the progress shown) and keeping it."""
    try:
        process = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, errors="replace")
    except FileNotFoundError as exc:
        raise BuildError(f"{argv[0]} is not installed (or not on PATH)") from exc
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        print_to_stderr(f"  {lines[-1]}")
    return process.wait(), lines


def pinned_files(source: Path, language: Language) -> dict[str, bytes]:
    """The files the cache key hashes, read from the function's folder."""
    if language.name == "python":
        return {REQUIREMENTS: (source / REQUIREMENTS).read_bytes()}
    files = {PACKAGE_JSON: (source / PACKAGE_JSON).read_bytes()}
    if (source / PACKAGE_LOCK).is_file():
        files[PACKAGE_LOCK] = (source / PACKAGE_LOCK).read_bytes()
    return files


def dependencies(source: Path, runtime: str, cache: Path, run: Runner = stream,
                 say: Callable[[str], None] = print_to_stderr) -> Path | None:
    """The folder of built dependencies for the function in `source` (None when it declares none), from
    the cache when the pinning files are unchanged."""
    language = language_of(runtime)
    if not (source / language.manifest).is_file():
        return None
    files = pinned_files(source, language)
    if language.name == "python" and not check_requirements(files[REQUIREMENTS].decode("utf-8", errors="replace")):
        say(f"dependencies: none listed in {REQUIREMENTS}")
        return None
    arch = machine()
    entry = cache / cache_key(language, files, arch)
    if entry.is_dir():
        os.utime(entry)  # its last use, which prune() goes by
        say(f"dependencies: cache hit ({entry})")
        return entry
    cache.mkdir(parents=True, exist_ok=True)
    prune(cache, time.time())
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        if language.name == "python":
            say(f"dependencies: fetching wheels of {REQUIREMENTS} for Python {language.version} "
                f"(manylinux, {arch})")
            _build_python(work, files[REQUIREMENTS], language.version, arch, run)
        else:
            _build_node(work, files, run, say)
        try:
            work.rename(entry)  # whole or not at all: a build stopped halfway never becomes a cache hit
        except OSError:
            if not entry.is_dir():  # a concurrent build of the same key won the rename: its result is equal
                raise
            shutil.rmtree(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    say(f"dependencies: cached in {entry}")
    return entry


def prune(cache: Path, now: float) -> list[Path]:
    """Remove the entries unused for CACHE_KEEP_S, and builds left halfway by a process that died: every
    change of a lock file makes a new entry, so without this the cache only grows. Returns what went."""
    removed = []
    for entry in cache.iterdir():
        try:
            idle_s = now - entry.stat().st_mtime
        except FileNotFoundError:  # a concurrent prune or build moved it
            continue
        limit = ABANDONED_BUILD_S if entry.name.startswith(".building-") else CACHE_KEEP_S
        if entry.is_dir() and idle_s > limit:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def pip_download_argv(requirements: Path, wheels: Path, python_version: str, arch: str) -> list[str]:
    platforms = [f"--platform=manylinux2014_{arch}"] + [f"--platform=manylinux_{g}_{arch}" for g in MANYLINUX_GLIBCS]
    abi = "cp" + python_version.replace(".", "")
    return [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
            *platforms, f"--python-version={python_version}", "--implementation=cp", f"--abi={abi}",
            "--abi=abi3", "--abi=none", "--dest", str(wheels), "--requirement", str(requirements)]


def _build_python(work: Path, requirements: bytes, python_version: str, arch: str, run: Runner) -> None:
    (work / REQUIREMENTS).write_bytes(requirements)
    wheels = work / "wheels"
    status, output = run(pip_download_argv(work / REQUIREMENTS, wheels, python_version, arch), work)
    if status != 0:
        raise BuildError(pip_failure(output, python_version, arch))
    site = work / "site"
    for wheel in sorted(wheels.glob("*.whl")):
        unpack_wheel(wheel, site)
    # The cache entry keeps only what goes into the zip.
    shutil.rmtree(wheels)
    (work / REQUIREMENTS).unlink()
    for child in site.iterdir():
        child.rename(work / child.name)
    site.rmdir()


def pip_failure(output: list[str], python_version: str, arch: str) -> str:
    """pip's failure in one sentence a user can act on."""
    text = "\n".join(output)
    if match := re.search(r"No matching distribution found for (\S+)", text):
        versions = re.search(r"\(from versions: ([^)]*)\)", text)
        found = [v.strip() for v in versions[1].split(",")] if versions and versions[1] != "none" else []
        usable = f"versions that have one: {', '.join(found[-5:])}" if found else "no version has one"
        return (f"no wheel of {match[1]} for Python {python_version} on manylinux {arch} ({usable}): faas build "
                f"installs released wheels only, nothing is compiled on the host")
    errors = [line for line in output if line.startswith("ERROR:")]
    return "pip download failed: " + (" ".join(errors) if errors else (output[-1] if output else "no output"))


def unpack_wheel(wheel: Path, target: Path) -> None:
    """A wheel as pip would install it into site-packages: its files, with `*.data/purelib|platlib` moved to
    the root (scripts and headers have no place in a function's zip)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or ".." in parts or info.filename.startswith("/"):
                continue
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(info))
            if (info.external_attr >> 16) & 0o111:
                destination.chmod(0o755)


def _build_node(work: Path, files: dict[str, bytes], run: Runner, say: Callable[[str], None]) -> None:
    if shutil.which("npm") is None:
        raise BuildError("npm is not installed (or not on PATH): install Node.js's npm to build a function "
                         "with a package.json (deploy/dev.sh installs it)")
    for name, content in files.items():
        (work / name).write_bytes(content)
    if PACKAGE_LOCK in files:
        say(f"dependencies: npm ci --omit=dev (from {PACKAGE_LOCK})")
        verb = "ci"
    else:
        say(f"dependencies: no {PACKAGE_LOCK}: npm install --omit=dev resolves the versions now "
            f"(commit a lock file for repeatable builds)")
        verb = "install"
    status, output = run(["npm", verb, "--omit=dev", "--no-audit", "--no-fund"], work)
    if status != 0:
        errors = [line for line in output if "ERR!" in line]
        raise BuildError(f"npm {verb} failed: " + (" ".join(errors[:6]) if errors else
                                                    (output[-1] if output else "no output")))
    for name in (*files, PACKAGE_LOCK):
        (work / name).unlink(missing_ok=True)
    if not (work / "node_modules").is_dir():
        (work / "node_modules").mkdir()  # a package.json without dependencies: an empty, cacheable result
