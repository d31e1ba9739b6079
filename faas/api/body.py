"""Reading request bodies with per-route size limits, so one oversize request never fills memory, and
spooling bodies whose signature can only be checked once they are read, so unverified bytes cost disk,
not memory."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import tempfile
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from faas.bodies import CHUNK, read_limited
from faas.errors import InvalidRequestContent, RequestTooLarge

# What a request carries between middlewares and handlers.
BODY = web.RequestKey("body", bytes)  # read (and hashed for its signature) by the auth middleware
BODY_JSON = web.RequestKey("body_json", object)  # the body parsed as JSON, or why it could not be
REQUEST_ID = web.RequestKey("request_id", str)
OPERATION = web.RequestKey("operation", str)  # the IAM action the request calls, for GET /metrics' counts

DEFAULT_LIMIT = 256 * 1024
# CreateFunction / UpdateFunctionCode carry a base64 zip of up to 50 MB: 69,905,067 bytes as Lambda counts.
CODE_LIMIT = 69_905_067
# An unverified body stays in memory up to this size; the rest goes to an unlinked temporary file,
# written in pieces this large off the event loop. Invocations (a few hundred bytes) never touch a file.
SPOOL_IN_MEMORY = 1 << 20


async def read_body(request: web.Request, limit: int, operation: str) -> bytes:
    """The body, which the auth middleware usually read already (the signature covers it)."""
    too_large = RequestTooLarge(f"Request must be smaller than {limit} bytes for the {operation} operation")
    body = request.get(BODY)
    if body is None:
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        body = request[BODY] = await read_at_most(request, limit, too_large)
    if len(body) > limit:
        raise too_large
    return body


async def read_at_most(request: web.Request, limit: int, too_large: Exception) -> bytes:
    """The whole body, raising `too_large` as soon as it passes `limit` bytes."""
    body = await read_limited(request, limit)
    if body is None:
        raise too_large
    return body


@dataclasses.dataclass
class Spooled:
    """A body read through SHA-256 and not yet trusted: in memory when small, else in a temporary file."""

    sha256: str
    size: int
    memory: bytes | None
    file: IO[bytes] | None

    async def read(self) -> bytes:
        """All of it, once its signature has been checked (and only then: this is where memory is spent)."""
        if self.file is None:
            return self.memory or b""
        file = self.file

        def load() -> bytes:
            file.seek(0)
            return file.read()

        return await asyncio.to_thread(load)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()  # it was unlinked at creation: closing frees its space
            self.file = None


async def spool(request: web.Request, limit: int, too_large: Exception, directory: Path) -> Spooled:
    """Read the body through SHA-256, raising `too_large` past `limit` bytes; past SPOOL_IN_MEMORY it
    goes to an unlinked temporary file in `directory`, so concurrent large bodies cost little memory."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = buffered = 0
    file: IO[bytes] | None = None
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > limit:
                raise too_large
            digest.update(chunk)
            chunks.append(chunk)
            buffered += len(chunk)
            if buffered >= SPOOL_IN_MEMORY:
                if file is None:
                    file = await asyncio.to_thread(tempfile.TemporaryFile, dir=directory)
                await asyncio.to_thread(file.write, b"".join(chunks))
                chunks, buffered = [], 0
        if file is None:
            return Spooled(sha256=digest.hexdigest(), size=size, memory=b"".join(chunks), file=None)
        if chunks:
            await asyncio.to_thread(file.write, b"".join(chunks))
        return Spooled(sha256=digest.hexdigest(), size=size, memory=None, file=file)
    except BaseException:
        if file is not None:
            file.close()
        raise


def parse_json(request: web.Request, body: bytes) -> Any:
    """`body` as JSON, parsed once per request however many checks read it: a code upload carries 70 MB
    of base64, and every parse holds the event loop (and the GIL) for a tenth of a second or more."""
    if BODY_JSON not in request:
        try:
            request[BODY_JSON] = json.loads(body)
        except ValueError as exc:  # UnicodeDecodeError too
            request[BODY_JSON] = exc
    parsed = request[BODY_JSON]
    if isinstance(parsed, ValueError):
        raise parsed
    return parsed


async def read_json(request: web.Request, operation: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    body = await read_body(request, limit, operation)
    if not body.strip():
        return {}
    try:
        parsed = parse_json(request, body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc.__class__.__name__}") from exc
    if not isinstance(parsed, dict):
        raise InvalidRequestContent("Could not parse request body into json: expected an object")
    return parsed
