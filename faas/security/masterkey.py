"""The operator's master keys: a keyring file of AES-256-GCM keys that seal secrets at rest, rotatable without downtime.

Key file (`<data-dir>/master.key`, mode 0600), newest key last::

    {"version": 1,
     "keys": [{"id": "mk-1a2b3c4d", "key": "<base64 of 32 bytes>", "created": "2025-01-01T00:00:00+00:00"}]}

A file holding one base64 line (the format before keyrings) is read as one key with the id
`mk-legacy`; it stays as it is until the first `rotate` writes the JSON form. The file is only
ever replaced whole (a 0600 temp file, fsync, rename, under a lock), by `rotate` and `retire_old`.
A key may also come from a setting (`from_setting`): `<base64>` or `mk-id:<base64>,mk-id:<base64>`.

Sealed form: `b"fk1:" + key id + b":" + nonce (12) + ciphertext + tag (16)`, with the header and
the context (what the secret belongs to) as associated data, so a sealed value opens only under
the same context and only with the key it names. A value without the header was sealed before
keyrings existed and opens with the `mk-legacy` key, with the context alone as associated data.

Rotating with no downtime:
 1. `MasterKey.rotate(path)` appends a new key. Every server using that file notices the change
    within `recheck_interval_s` (at most one stat of the file per interval, on seal and open) and
    seals with the new key from then on; a server that meets the new id earlier re-reads the file
    at once. Old keys stay in the file, so everything stored still opens. Servers on other hosts
    must share the file (or be restarted with it).
 2. Wait longer than `recheck_interval_s`, then for every stored sealed value (secrets, wrapped
    data keys) with `master.needs_rewrap(value)`, store `envelope.rewrap(master, value, context)`.
 3. Scan again; once no stored value names an old key (`MasterKey.sealed_key_id`), call
    `MasterKey.retire_old(path)`. Backups of the database taken before step 2 need the old key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.errors import KeyringError

log = logging.getLogger(__name__)

SEAL_PREFIX = b"fk1:"
LEGACY_ID = "mk-legacy"
FILE_VERSION = 1
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_ID = re.compile(r"mk-[0-9a-z]{1,24}")
_MAX_HEADER = len(SEAL_PREFIX) + 3 + 24 + 1


@dataclass(frozen=True)
class KeyEntry:
    id: str
    key: bytes = field(repr=False)  # never in a log line or a traceback
    created: str | None = None


class _Ring:
    """An immutable snapshot of the keys, swapped whole on reload so readers never see half a ring."""

    def __init__(self, entries: Sequence[KeyEntry], source: str) -> None:
        if not entries:
            raise KeyringError(f"{source} holds no master key")
        self.aeads: dict[str, AESGCM] = {}
        for entry in entries:
            if not _ID.fullmatch(entry.id):
                raise KeyringError(f"{source}: a master key id must look like mk-1a2b3c4d")
            if entry.id in self.aeads:
                raise KeyringError(f"{source} holds the master key id {entry.id} twice")
            if len(entry.key) != _KEY_BYTES:
                raise KeyringError(f"{source}: master key {entry.id} must be 32 bytes (base64)")
            self.aeads[entry.id] = AESGCM(entry.key)
        self.entries = tuple(entries)
        self.newest = entries[-1].id


class MasterKey:
    """The keyring: seals with the newest key, opens with whichever key a sealed value names."""

    recheck_interval_s = 1.0  # how often seal/open look at the key file for a rotation; 0: every call

    def __init__(self, keys: Sequence[KeyEntry], *, path: Path | None = None) -> None:
        self._source = f"the master key file {path}" if path else "the master key setting"
        self._ring = _Ring(keys, self._source)
        self._path = path
        self._signature: tuple[int, ...] | None = None
        self._checked_at = time.monotonic()

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, path: Path, *, create: bool = True) -> MasterKey:
        """Read the key file, creating it (0600) only when it does not exist and `create` is true.

        Pass `create=False` when the database already holds sealed secrets: a new key could not open them.
        """
        path = Path(path)
        if create and not path.exists():
            _create_file(path)
        entries, signature = _read_file(path)
        master = cls(entries, path=path)
        master._signature = signature
        return master

    @classmethod
    def from_setting(cls, value: str) -> MasterKey:
        """Keys given as a setting: `<base64>` (id mk-legacy) or `mk-id:<base64>,...`, newest last."""
        entries = []
        for item in value.split(","):
            key_id, _, encoded = item.strip().rpartition(":")
            entries.append(KeyEntry(key_id or LEGACY_ID, _decode_key(encoded, "the master key setting")))
        return cls(entries)

    def reload(self) -> None:
        """Re-read the key file now (a no-op for keys from a setting)."""
        if self._path is None:
            return
        entries, signature = _read_file(self._path)
        self._ring = _Ring(entries, self._source)
        self._signature = signature

    def _maybe_reload(self) -> None:
        """Pick up a rotation done by another process: one stat per `recheck_interval_s` at most."""
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._checked_at < self.recheck_interval_s:
            return
        self._checked_at = now
        try:
            signature = _signature(os.stat(self._path))
        except OSError:
            return  # keep the keys in memory; the next start says what is wrong with the file
        if signature == self._signature:
            return
        try:
            self.reload()
        except KeyringError as exc:
            self._signature = signature  # say it once per change of the file, not every second
            log.warning("keeping the master keys already loaded: %s", exc)

    # -- what the ring holds ----------------------------------------------------------------------

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys loaded now, oldest first."""
        return tuple(entry.id for entry in self._ring.entries)

    @property
    def newest_id(self) -> str:
        """The id of the key `seal` uses, as loaded now."""
        return self._ring.newest

    @staticmethod
    def sealed_key_id(sealed: bytes) -> str:
        """The id of the key a sealed value needs (mk-legacy for values sealed before keyrings)."""
        return _split(sealed)[0]

    def needs_rewrap(self, sealed: bytes) -> bool:
        """True unless `sealed` is already in the current form under the newest key."""
        self._maybe_reload()
        return not sealed.startswith(_header(self._ring.newest))

    # -- sealing ----------------------------------------------------------------------------------

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt with the newest key, binding `context` (what the secret belongs to) as associated data."""
        self._maybe_reload()
        ring = self._ring
        header = _header(ring.newest)
        nonce = os.urandom(_NONCE_BYTES)
        return header + nonce + ring.aeads[ring.newest].encrypt(nonce, plaintext, header + context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        self._maybe_reload()
        key_id, header, body = _split(sealed)
        aead = self._ring.aeads.get(key_id)
        if aead is None and self._path is not None:
            self.reload()  # another process may have rotated since our last look
            aead = self._ring.aeads.get(key_id)
        if aead is None:
            raise KeyringError(
                f"a stored secret was sealed with master key {key_id}, which is not in {self._source} "
                f"(it holds {', '.join(self.key_ids)}): restore the key file, or the setting, that holds it"
            )
        if len(body) < _NONCE_BYTES + _TAG_BYTES:
            raise KeyringError(f"a stored secret sealed with master key {key_id} is truncated")
        try:
            return aead.decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], header + context.encode())
        except InvalidTag as exc:
            raise KeyringError(
                f"a stored secret cannot be decrypted with master key {key_id}: the key does not match the "
                "one it was sealed with, or the secret was changed or moved to something else"
            ) from exc

    # -- rotation ---------------------------------------------------------------------------------

    @classmethod
    def rotate(cls, path: Path) -> str:
        """Append a new key to the key file; returns its id. Old keys stay until `retire_old`."""
        path = Path(path)
        with _locked(path):
            entries, _ = _read_file(path)
            entry = KeyEntry(_new_id(e.id for e in entries), AESGCM.generate_key(bit_length=256), _now())
            _replace_file(path, _render([*entries, entry]))
        return entry.id

    @classmethod
    def retire_old(cls, path: Path, keep: int = 1) -> list[str]:
        """Drop all but the newest `keep` keys; returns the dropped ids.

        Only once nothing stored is sealed with them: what they sealed can never be opened again.
        """
        if keep < 1:
            raise ValueError("keep at least the newest key")
        path = Path(path)
        with _locked(path):
            entries, _ = _read_file(path)
            dropped = entries[:-keep]
            if dropped:
                _replace_file(path, _render(entries[-keep:]))
        return [entry.id for entry in dropped]


# -- the sealed form --------------------------------------------------------------------------------


def _header(key_id: str) -> bytes:
    return SEAL_PREFIX + key_id.encode() + b":"


def _split(sealed: bytes) -> tuple[str, bytes, bytes]:
    """(key id, header, nonce + ciphertext); a value without a valid header is in the pre-keyring form."""
    if sealed.startswith(SEAL_PREFIX):
        end = sealed.find(b":", len(SEAL_PREFIX), _MAX_HEADER)
        if end > 0:
            key_id = sealed[len(SEAL_PREFIX):end].decode("ascii", errors="replace")
            if _ID.fullmatch(key_id):
                return key_id, sealed[:end + 1], sealed[end + 1:]
    return LEGACY_ID, b"", sealed


# -- the key file -----------------------------------------------------------------------------------


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
