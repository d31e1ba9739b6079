"""The master key file: its format, and reading, creating and replacing it safely.

Key file (`<data-dir>/master.key`, mode 0600), newest key last::

    {"version": 1,
     "keys": [{"id": "mk-1a2b3c4d", "key": "<base64 of 32 bytes>", "created": "2025-01-01T00:00:00+00:00"}]}

A file holding one base64 line (the format before keyrings) is read as one key with the id
`mk-legacy`; it stays as it is until the first `rotate` writes the JSON form. The file is only
ever replaced whole (a 0600 temp file, fsync, rename, under a lock), by `MasterKey.rotate` and
`MasterKey.retire_old` (faas/security/masterkey.py, which seals and opens with the keys).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.errors import KeyringError

LEGACY_ID = "mk-legacy"
FILE_VERSION = 1
_KEY_BYTES = 32


@dataclass(frozen=True)
class KeyEntry:
    id: str
    key: bytes = field(repr=False)  # never in a log line or a traceback
    created: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_id(taken: Iterable[str]) -> str:
    taken = set(taken)
    while (key_id := "mk-" + secrets.token_hex(4)) in taken:
        pass
    return key_id


def _decode_key(encoded: str, source: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"{source}: a master key must be 32 bytes in base64") from exc
    if len(key) != _KEY_BYTES:
        raise KeyringError(f"{source}: a master key must be 32 bytes in base64")
    return key


def _parse(text: str, source: str) -> list[KeyEntry]:
    text = text.strip()
    if not text.startswith("{"):
        return [KeyEntry(LEGACY_ID, _decode_key(text, source))]
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise KeyringError(f"{source} is not valid JSON") from exc
    if not isinstance(document, dict) or document.get("version", FILE_VERSION) != FILE_VERSION:
        raise KeyringError(f'{source} must hold {{"version": 1, "keys": [...]}}')
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise KeyringError(f'{source} must hold {{"version": 1, "keys": [...]}}')
    entries = []
    for item in keys:
        if not (isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("key"), str)):
            raise KeyringError(f'{source}: each key must be {{"id": ..., "key": ..., "created": ...}}')
        created = item.get("created")
        entries.append(KeyEntry(item["id"], _decode_key(item["key"], source),
                                created if isinstance(created, str) else None))
    return entries


def _render(entries: Sequence[KeyEntry]) -> str:
    keys = [{"id": e.id, "key": base64.b64encode(e.key).decode(), "created": e.created} for e in entries]
    return json.dumps({"version": FILE_VERSION, "keys": keys}, indent=2) + "\n"


def _signature(stat: os.stat_result) -> tuple[int, ...]:
    # rotate renames a new file into place, so the inode changes even when mtime's resolution is coarse
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _read_file(path: Path) -> tuple[list[KeyEntry], tuple[int, ...]]:
    source = f"the master key file {path}"
    try:
        with open(path, "rb") as handle:
            signature = _signature(os.fstat(handle.fileno()))
            raw = handle.read()
    except FileNotFoundError as exc:
        raise KeyringError(f"{source} does not exist: restore it from a backup, since the secrets "
                           "already stored cannot be decrypted without it") from exc
    except OSError as exc:
        raise KeyringError(f"cannot read {source}: {exc.strerror or exc.__class__.__name__}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyringError(f"{source} is not text") from exc
    return _parse(text, source), signature


def _write_temp(path: Path, text: str) -> Path:
    """A complete, fsynced 0600 file next to `path` (mkstemp creates it 0600 with O_EXCL)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a directory; the rename stands
            os.fsync(fd)
    finally:
        os.close(fd)


def _create_file(path: Path) -> None:
    """Write a first key, unless another process wrote one first (its key wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _render([KeyEntry(_new_id(()), AESGCM.generate_key(bit_length=256), _now())])
    tmp = _write_temp(path, text)
    try:
        os.link(tmp, path)  # appears complete, and never replaces an existing file
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: exclusive create, as before keyrings
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)


def _replace_file(path: Path, text: str) -> None:
    """Replace the key file whole; a reader sees the old file or the new one, never a part."""
    tmp = _write_temp(path, text)
    try:
        if os.geteuid() == 0:  # `sudo faas keys rotate` must leave the file readable by the server's user
            stat = path.stat()
            os.chown(tmp, stat.st_uid, stat.st_gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise rotate/retire across processes, so two rotations cannot lose each other's key."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
