"""Reading an HTTP request's body under a size limit, so one oversize request never fills memory: the
API, function URLs and the Runtime API all read bodies this way."""

from __future__ import annotations

from aiohttp import web

CHUNK = 1 << 16


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to pass `limit` bytes (declared or sent)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
