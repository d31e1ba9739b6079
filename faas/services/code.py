"""Checking uploaded zips before anything is stored: size limits, readable archive, safe paths, honest sizes."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib

from faas.errors import InvalidParameterValue, RequestTooLarge
from faas.zips import MAX_ZIP_BYTES, ZipRejected, unpack

# Decoding base64 holds the GIL: in slices this size (a millisecond each) a thread decoding 67 MB lets
# the event loop in often.
DECODE_SLICE = 256 * 1024


@dataclasses.dataclass(frozen=True)
class CodeInfo:
    sha256: str  # hex, the storage key
    size: int
    unzipped_size: int

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def decode_zip_field(value: object) -> bytes:
    if not isinstance(value, str):
        raise InvalidParameterValue("Code.ZipFile must be a base64-encoded string")
    try:
        # Slices end on 4-character boundaries, each decoding as it would within the whole string; the
        # rest, from the last whole group before any padding, is decoded as one, as padding rules need.
        padding = value.find("=")
        end = len(value) if padding < 0 else max(0, padding - padding % 4 - 4)
        pieces = [base64.b64decode(value[start:min(start + DECODE_SLICE, end)], validate=True)
                  for start in range(0, end, DECODE_SLICE)]
        pieces.append(base64.b64decode(value[end:], validate=True))
        return b"".join(pieces)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("Code.ZipFile is not valid base64") from exc


def inspect_zip(data: bytes) -> CodeInfo:
    """Unpack the zip in memory-bounded chunks without keeping anything, so what is stored is known to
    unpack at a cold start: blocking work, for a thread."""
    if len(data) > MAX_ZIP_BYTES:
        raise RequestTooLarge(
            f"Zipped code is {len(data)} bytes; it must be at most {MAX_ZIP_BYTES} bytes (50 MB)"
        )
    try:
        unzipped = unpack(data)
    except ZipRejected as exc:
        raise InvalidParameterValue(str(exc)) from exc
    return CodeInfo(sha256=hashlib.sha256(data).hexdigest(), size=len(data), unzipped_size=unzipped)
