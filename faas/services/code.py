"""Checking uploaded zips before anything is stored: size limits, readable archive, safe paths."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import io
import zipfile
from pathlib import PurePosixPath

from faas.errors import InvalidParameterValue, RequestTooLarge

MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
READABLE_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


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
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("Code.ZipFile is not valid base64") from exc


def unsafe_member(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def inspect_zip(data: bytes) -> CodeInfo:
    if len(data) > MAX_ZIP_BYTES:
        raise RequestTooLarge(
            f"Zipped code is {len(data)} bytes; it must be at most {MAX_ZIP_BYTES} bytes (50 MB)"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from exc
    unzipped = 0
    for member in members:
        if unsafe_member(member.filename):
            raise InvalidParameterValue(
                f"The zip file contains an entry with an absolute path or '..': {member.filename!r}"
            )
        if member.flag_bits & 0x1 or member.compress_type not in READABLE_COMPRESSION:
            raise InvalidParameterValue(
                f"The zip entry {member.filename!r} is encrypted or uses a compression method that cannot be "
                "unpacked; use stored or deflated entries"
            )
        unzipped += member.file_size
    if unzipped > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes (250 MB); this zip holds {unzipped}"
        )
    return CodeInfo(sha256=hashlib.sha256(data).hexdigest(), size=len(data), unzipped_size=unzipped)
