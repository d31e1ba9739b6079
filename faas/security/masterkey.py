"""The operator's master keys: a keyring file of AES-256-GCM keys that seal secrets at rest, rotatable without downtime.

The keys come from the key file (`<data-dir>/master.key`, read and written by
`faas/security/keyfile.py`) or from a setting (`from_setting`): `<base64>` or `mk-id:<base64>,mk-id:<base64>`.

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

import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.errors import KeyringError
from faas.security.keyfile import (
    _KEY_BYTES,
    LEGACY_ID,
    KeyEntry,
    _create_file,
    _decode_key,
    _locked,
    _new_id,
    _now,
    _read_file,
    _render,
    _replace_file,
    _signature,
)

log = logging.getLogger(__name__)

SEAL_PREFIX = b"fk1:"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_ID = re.compile(r"mk-[0-9a-z]{1,24}")
_MAX_HEADER = len(SEAL_PREFIX) + 3 + 24 + 1


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
