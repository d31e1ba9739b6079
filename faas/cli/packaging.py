"""How `faas deploy` packs code: a folder becomes a deterministic zip, so the same folder gives the same
CodeSha256 and an unchanged redeploy uploads nothing new."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

from faas.errors import ConfigError

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".faas-build"})  # .faas-build: where `faas build` writes
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: same folder, same CodeSha256


def folder_files(directory: Path, skipped: frozenset[str] = SKIPPED_DIRS) -> dict[str, Path]:
    """The files of a folder by their name in a zip, leaving out the `skipped` folders."""
    files: dict[str, Path] = {}
    for root, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        for filename in filenames:
            path = Path(root, filename)
            if path.is_file():  # skips sockets, fifos and dangling links
                files[path.relative_to(directory).as_posix()] = path
    return files


def zip_files(files: dict[str, Path]) -> bytes:
    """A deterministic zip: sorted entries, fixed timestamps and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3  # unix, whatever the host, so the modes below mean the same
            executable = path.stat().st_mode & 0o111
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    return buffer.getvalue()


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of a folder, without caches, .git or faas build's output."""
    files = folder_files(directory)
    if not files:
        raise ConfigError(f"{directory} holds no files to deploy")
    return zip_files(files)


def code_sha256(zip_bytes: bytes) -> str:
    """As Lambda reports CodeSha256: base64 of the digest, not hex."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def read_code(path: Path) -> bytes:
    """The zip to deploy: a folder is zipped, a .zip file is sent as it is."""
    if path.is_dir():
        return zip_directory(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return path.read_bytes()
    raise ConfigError(f"{path} is neither a folder nor a zip file")
