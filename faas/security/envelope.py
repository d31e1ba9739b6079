"""Envelope encryption of function environments: a data key per function, wrapped by the master key.

A function's data key is 32 random bytes, stored only sealed by the master keyring with the
function's ARN as context (`MasterKey.seal`'s `fk1:` form). Its environment variables are stored as::

    b"fe1:" + nonce (12) + AES-256-GCM(data key, padded JSON) + tag (16)

with `b"fe1:" + ARN` as associated data, so a ciphertext or a wrapped key copied to another function
does not decrypt. The JSON has sorted keys and is padded with spaces to a multiple of 256 bytes, and
an empty environment is encrypted too: the stored form shows neither whether a function has
variables nor their exact size. Rotating the master key re-wraps only the data keys (`rewrap`);
the environment ciphertexts stay as they are. Use the same ARN (the unqualified function ARN)
for every call on one function.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.security.masterkey import KeyringError, MasterKey

ENVIRONMENT_PREFIX = b"fe1:"
_DATA_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_PAD_TO = 256


def new_data_key(master: MasterKey, function_arn: str) -> tuple[bytes, bytes]:
    """(the plain 32-byte data key, the same key sealed by the newest master key for `function_arn`)."""
    key = AESGCM.generate_key(bit_length=256)
    return key, master.seal(key, function_arn)


def _data_key(master: MasterKey, wrapped_key: bytes, function_arn: str) -> AESGCM:
    key = master.open(wrapped_key, function_arn)
    if len(key) != _DATA_KEY_BYTES:
        raise KeyringError(f"the data key of {function_arn} is not 32 bytes")
    return AESGCM(key)


def _associated_data(function_arn: str) -> bytes:
    return ENVIRONMENT_PREFIX + function_arn.encode()


def _is_environment(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def encrypt_environment(master: MasterKey, wrapped_key: bytes, function_arn: str, variables: dict[str, str]) -> bytes:
    if not _is_environment(variables):
        raise TypeError("environment variables map names (str) to values (str)")
    # ensure_ascii: a lone surrogate from a JSON request stays encodable
    plaintext = json.dumps(variables, sort_keys=True, separators=(",", ":")).encode()
    plaintext += b" " * (-len(plaintext) % _PAD_TO)
    nonce = os.urandom(_NONCE_BYTES)
    aead = _data_key(master, wrapped_key, function_arn)
    return ENVIRONMENT_PREFIX + nonce + aead.encrypt(nonce, plaintext, _associated_data(function_arn))


def decrypt_environment(master: MasterKey, wrapped_key: bytes, function_arn: str, ciphertext: bytes) -> dict[str, str]:
    body = ciphertext[len(ENVIRONMENT_PREFIX):]
    if not ciphertext.startswith(ENVIRONMENT_PREFIX) or len(body) < _NONCE_BYTES + _TAG_BYTES:
        raise KeyringError(f"the stored environment of {function_arn} is not in a form faas can read")
    aead = _data_key(master, wrapped_key, function_arn)
    try:
        plaintext = aead.decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], _associated_data(function_arn))
    except InvalidTag as exc:
        raise KeyringError(
            f"the environment of {function_arn} cannot be decrypted: it was encrypted for another function "
            "or changed"
        ) from exc
    variables = json.loads(plaintext)
    if not _is_environment(variables):  # authenticated, so only a bug writes this
        raise KeyringError(f"the decrypted environment of {function_arn} is not a map of strings")
    return variables


def rewrap(master: MasterKey, wrapped_key: bytes, context: str) -> bytes:
    """Open a sealed value (a data key or any secret) with the key it names and seal it with the newest.

    Returns `wrapped_key` itself when it is already under the newest key, so a caller writes back only
    what changed. `context` is what the value was sealed for: the function ARN for a data key.
    """
    plaintext = master.open(wrapped_key, context)  # also proves the value is sound before it is kept
    if not master.needs_rewrap(wrapped_key):
        return wrapped_key
    return master.seal(plaintext, context)
