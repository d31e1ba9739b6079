"""The operator's master key: created once with mode 0600, used to seal secrets at rest (AES-256-GCM)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.errors import StartupError

_NONCE_BYTES = 12


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise StartupError("the master key must be 32 bytes (base64 in the key file)")
        self._aead = AESGCM(key)

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Read the key file, creating it (0600) only when it does not exist yet."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = AESGCM.generate_key(bit_length=256)
            # O_EXCL: never overwrite a key another process just wrote.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(key).decode() + "\n")
            return cls(key)
        try:
            return cls(base64.b64decode(path.read_text().strip(), validate=True))
        except (ValueError, OSError) as exc:
            raise StartupError(f"cannot read the master key at {path}: {exc.__class__.__name__}") from exc

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt, binding `context` (what the secret belongs to) as associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise StartupError(
                "a stored secret cannot be decrypted: the master key does not match the one it was sealed with"
            ) from exc
