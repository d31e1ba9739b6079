"""One access-log line per API request, written once the response is sent: who called which operation, how it
ended and how long it took. aiohttp's access-logger hook rather than a middleware: it sees every response,
those of the middlewares included, and costs nothing when FAAS_LOG_LEVEL is above info.

Nothing secret goes in: no headers, no bodies, and the path without its query string (a presigned URL carries
its signature and credentials there)."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from faas.api.auth import PRINCIPAL
from faas.api.body import OPERATION, REQUEST_ID
from faas.server_log import ACCESS, FIELDS

LOGGER = logging.getLogger(ACCESS)


class AccessLogger(AbstractAccessLogger):
    """`remote - principal [time] "METHOD path HTTP/x.y" status bytes duration operation request-id`: the common
    log format, with the principal as its user and three fields after it (a dash where one is unknown)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_s: float) -> None:
        fields = {
            "remote": request.remote or "-", "principal": request.get(PRINCIPAL) or "-",
            "method": request.method, "path": request.path, "status": response.status,
            "bytes": response.body_length, "duration_ms": round(time_s * 1000, 1),
            "operation": request.get(OPERATION) or "-",
            "request_id": response.headers.get("x-amzn-RequestId") or request.get(REQUEST_ID) or "-",
        }
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        self.logger.info('%s - %s [%s] "%s %s HTTP/%d.%d" %d %d %.1fms %s %s', fields["remote"],
                         fields["principal"], when, request.method, request.path, request.version.major,
                         request.version.minor, response.status, response.body_length, fields["duration_ms"],
                         fields["operation"], fields["request_id"], extra={FIELDS: fields})

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
