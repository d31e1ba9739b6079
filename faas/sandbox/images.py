"""The runtime images: a Debian base made with debootstrap, and one image per runtime built on it.

There is no registry to pull from, so every image is built locally and named after a hash of its
recipe; an image whose tag exists is reused, and an unchanged recipe is never rebuilt:

  <prefix>/base:<hash12>         debootstrap of Debian trixie (minbase + python3, nodejs,
                                 ca-certificates, curl), imported with `docker import`
  <prefix>/<runtime>:<hash12>    `docker build` of the recipe faas/runtimes/<runtime>/ (package data:
                                 the repository's runtimes/<runtime>/) with BASE=<base ref>, in a
                                 copy of the recipe to which the packages pinned in its sdk/ folder
                                 are fetched first (faas.sandbox.dependencies: the AWS SDKs, from
                                 PyPI and npm on the host); the hash covers every file of the
                                 recipe, pins included, and the base ref; an alias (provided.al2)
                                 is served by its runtime's image

The Debian mirror is read at run time from the host's apt sources; the environment variable
setting FAAS_DEBIAN_MIRROR (e.g. http://<mirror>/debian) overrides it. Building the base needs root and
the `debootstrap` binary.

Everything here blocks (the docker SDK, subprocesses): callers run it in a thread.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path

import docker
import docker.errors

from faas.errors import StartupError
from faas.sandbox import dependencies

RUNTIMES: tuple[str, ...] = ("python3.13", "nodejs20.x", "provided.al2023", "provided.al2")
# Runtime names served by another runtime's recipe and image. provided.al2 is an OS-only runtime like
# provided.al2023: the function brings its own bootstrap, so what tells them apart on AWS (the Amazon
# Linux release under it) has no counterpart here, and one image serves both.
ALIASES: dict[str, str] = {"provided.al2": "provided.al2023"}
# Package data, so an installed wheel has the recipes too; resolved because in a checkout it is a
# symlink to the top-level runtimes/ and `docker build` gets the real directory as its context.
RECIPES_DIR = Path(str(resources.files("faas") / "runtimes")).resolve()

# The base recipe. Bump BASE_RECIPE_VERSION when the way the base is made changes.
BASE_SUITE = "trixie"
BASE_VARIANT = "minbase"
BASE_PACKAGES = ("python3", "nodejs", "ca-certificates", "curl")
BASE_RECIPE_VERSION = 1

APT_SOURCES: tuple[str, ...] = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
_DEBIAN_SUITES = frozenset({"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid", "stable",
                            "oldstable", "oldoldstable", "testing", "unstable", "experimental"})
_PER_PACKAGE_LINE = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) (?!.*packages)")


# --- names ------------------------------------------------------------------------------------

def base_recipe_hash() -> str:
    recipe = {"suite": BASE_SUITE, "variant": BASE_VARIANT, "packages": sorted(BASE_PACKAGES),
              "version": BASE_RECIPE_VERSION}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def base_ref(prefix: str) -> str:
    return f"{prefix}/base:{base_recipe_hash()[:12]}"


def recipe_hash(recipe_dir: Path, base: str) -> str:
    """sha256 over every file of a recipe directory (path, executable bit, content) and the base ref."""
    digest = hashlib.sha256(f"base={base}\n".encode())
    for path in sorted(p for p in recipe_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(recipe_dir)
        if "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue  # left by tests that import a bootstrap; never part of an image
        executable = os.access(path, os.X_OK)
        digest.update(f"{relative.as_posix()}\0{int(executable)}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def image_runtime(runtime: str) -> str:
    """The runtime whose recipe and image `runtime` uses: itself, or the one it is an alias of."""
    return ALIASES.get(runtime, runtime)


def recipe_dir(runtime: str) -> Path:
    if runtime not in RUNTIMES:
        raise StartupError(f"unknown runtime {runtime!r}: known runtimes are {', '.join(RUNTIMES)}")
    runtime = image_runtime(runtime)
    path = RECIPES_DIR / runtime
    if not (path / "Dockerfile").is_file():
        raise StartupError(f"the recipe of runtime {runtime} is missing: expected {path}/Dockerfile")
    return path


def image_ref(prefix: str, runtime: str) -> str:
    """The reference ensure_images produces for a runtime, computed without touching Docker."""
    return f"{prefix}/{image_runtime(runtime)}:{recipe_hash(recipe_dir(runtime), base_ref(prefix))[:12]}"


# --- the Debian mirror ------------------------------------------------------------------------

def debian_mirror(paths: Sequence[str | Path] = APT_SOURCES) -> str:
    """The first Debian archive URI in the apt sources (files or directories of *.list/*.sources),
    skipping security suites and non-Debian repositories."""
    for source in _source_files(paths):
        try:
            text = source.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        entries = _deb822_entries(text) if source.suffix == ".sources" else _one_line_entries(text)
        for uri, suites in entries:
            if _is_debian_archive(uri, suites):
                return uri.rstrip("/")
    raise StartupError(
        f"no Debian mirror found in {', '.join(str(p) for p in paths)}: "
        "set FAAS_DEBIAN_MIRROR=http://<mirror>/debian to the Debian archive to build the base image from")


def _source_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in (".list", ".sources"))
        elif path.is_file():
            yield path


def _one_line_entries(text: str) -> Iterator[tuple[str, list[str]]]:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line[4:])  # [arch=amd64 signed-by=...]
        words = line.split()
        if len(words) >= 2:
            yield words[0], [words[1]]


def _deb822_entries(text: str) -> Iterator[tuple[str, list[str]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        uris = fields.get("uris", "").split()
        if uris:
            yield uris[0], fields.get("suites", "").split()


def _is_debian_archive(uri: str, suites: list[str]) -> bool:
    if not uri.startswith(("http://", "https://", "file:")) or "security" in uri:
        return False
    return any(
        suite.split("-")[0].split("/")[0] in _DEBIAN_SUITES
        and not suite.endswith("-security") and "/updates" not in suite
        for suite in suites)


# --- building ---------------------------------------------------------------------------------

def ensure_images(client: docker.DockerClient, *, prefix: str, progress: Callable[[str], None],
                  runtimes: Iterable[str] | None = None, mirror: str | None = None) -> dict[str, str]:
    """Build what is missing; return {runtime: image reference}."""
    wanted = tuple(runtimes) if runtimes is not None else RUNTIMES
    refs = {runtime: image_ref(prefix, runtime) for runtime in wanted}
    # One build per image: an alias and the runtime it names share their reference.
    missing = {image_runtime(runtime): ref for runtime, ref in refs.items() if not _image_exists(client, ref)}
    if missing:
        base = _ensure_base(client, prefix, progress, mirror)
        for runtime, ref in missing.items():
            _build_runtime(client, runtime, base, ref, progress)
    return refs


def _image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise StartupError(f"cannot ask Docker for image {ref}: {exc}") from exc


def _ensure_base(client: docker.DockerClient, prefix: str, progress: Callable[[str], None],
                 mirror: str | None) -> str:
    ref = base_ref(prefix)
    if _image_exists(client, ref):
        return ref
    debootstrap = shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if debootstrap is None:
        raise StartupError("debootstrap is needed to build the base image: apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise StartupError(f"building the base image {ref} with debootstrap needs root: "
                           "run the first start as root, or build the images on this host as root once")
    mirror = mirror or debian_mirror()
    progress(f"building base image from Debian {BASE_SUITE} (debootstrap, about a minute)...")
    workdir = Path(tempfile.mkdtemp(prefix="faas-base-"))
    try:
        rootfs = workdir / "rootfs"
        _debootstrap(debootstrap, rootfs, mirror, progress)
        _drop_apt_caches(rootfs)
        progress(f"importing {ref}...")
        _import_rootfs(client, rootfs, ref)
    finally:
        _remove_tree(workdir)
    return ref


def _debootstrap(debootstrap: str, rootfs: Path, mirror: str, progress: Callable[[str], None]) -> None:
    command = [debootstrap, f"--variant={BASE_VARIANT}", f"--include={','.join(BASE_PACKAGES)}",
               BASE_SUITE, str(rootfs), mirror]
    tail: collections.deque[str] = collections.deque(maxlen=30)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail.append(line)
            if line and not _PER_PACKAGE_LINE.match(line):  # phases, not 500 lines of packages
                progress(f"debootstrap: {line}")
    if process.returncode != 0:
        log = rootfs / "debootstrap" / "debootstrap.log"
        details = "\n".join(tail)
        raise StartupError(f"debootstrap of Debian {BASE_SUITE} from {mirror} failed "
                           f"(exit {process.returncode}); see {log} if kept:\n{details}")


def _drop_apt_caches(rootfs: Path) -> None:
    # ~120 MB of downloaded .debs and package lists nobody needs in a read-only sandbox
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"):
        for path in rootfs.glob(pattern):
            path.unlink(missing_ok=True)


def _import_rootfs(client: docker.DockerClient, rootfs: Path, ref: str) -> None:
    repository, tag = ref.rsplit(":", 1)
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LABEL faas.recipe=base",
        f"LABEL faas.recipe-hash={base_recipe_hash()}",
    ]
    with tempfile.TemporaryFile() as tar_errors:
        tar = subprocess.Popen(["tar", "--numeric-owner", "--one-file-system", "-C", str(rootfs), "-c", "."],
                               stdout=subprocess.PIPE, stderr=tar_errors)
        assert tar.stdout is not None
        try:
            answer = client.api.import_image_from_stream(
                _chunks(tar.stdout), repository=repository, tag=tag, changes=changes)
        except docker.errors.DockerException as exc:
            tar.kill()
            raise StartupError(f"docker import of {ref} failed: {exc}") from exc
        finally:
            tar.stdout.close()
            tar.wait()
        tar_errors.seek(0)
        failure = _stream_error(answer)
        if tar.returncode != 0 or failure:
            _remove_image(client, ref)  # never leave a half-imported base under the good name
            reason = failure or tar_errors.read().decode(errors="replace").strip()
            raise StartupError(f"docker import of {ref} failed: {reason}")


def _chunks(stream, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def _stream_error(answer: str) -> str | None:
    """The error in a JSON-lines answer of the Docker API, which reports failures with status 200."""
    for line in answer.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            return str(message["error"])
    return None


def _remove_image(client: docker.DockerClient, ref: str) -> None:
    try:
        client.images.remove(ref, force=True)
    except docker.errors.DockerException:
        pass


def _build_runtime(client: docker.DockerClient, runtime: str, base: str, ref: str,
                   progress: Callable[[str], None]) -> None:
    recipe = recipe_dir(runtime)
    labels = {"faas.recipe": runtime, "faas.recipe-hash": recipe_hash(recipe, base)}
    # The build context is a copy of the recipe plus what its pins fetch: the downloads never land
    # in the recipe directory (a checkout, or an installed package).
    with tempfile.TemporaryDirectory(prefix=f"faas-{runtime}-") as context:
        shutil.copytree(recipe, context, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        dependencies.fetch(Path(context), runtime, progress)
        progress(f"building runtime image {ref}...")
        try:
            for message in client.api.build(path=context, tag=ref, buildargs={"BASE": base}, labels=labels,
                                            decode=True, rm=True, forcerm=True, pull=False):
                if message.get("error"):
                    raise StartupError(f"building {ref} failed: {message['error'].strip()}")
                line = str(message.get("stream", "")).strip()
                if line.startswith("Step "):
                    progress(f"{runtime}: {line}")
        except docker.errors.DockerException as exc:
            raise StartupError(f"building {ref} failed: {exc}") from exc
    if not _image_exists(client, ref):
        raise StartupError(f"building {ref} finished but Docker has no such image")


def _remove_tree(path: Path) -> None:
    """Remove a debootstrap target, first unmounting what a failed run may have left mounted in it
    (/proc, /sys, bind-mounted /dev entries): deleting through those would reach the host's."""
    for mount_point in sorted(_mounts_below(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)
    if _mounts_below(path):
        raise StartupError(f"{path} still has file systems mounted below it; not removing it")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False, capture_output=True)


def _mounts_below(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mountinfo:
            points = [_unescape_mount(line.split()[4]) for line in mountinfo if len(line.split()) > 4]
    except OSError:
        return []
    return [point for point in points if point.startswith(prefix)]


def _unescape_mount(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
