"""Every response gets a request id; every error leaves in the format of the API it was called through
(Lambda's, or the JSON or query protocol's for the services faas.api.router routes), never as a stack trace."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api import router
from faas.api.body import REQUEST_ID
from faas.errors import ApiError, KMSAccessDenied, ServiceError, UnknownOperation
from faas.security.masterkey import KeyringError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def lambda_error_response(error: ApiError, request_id: str) -> web.Response:
    return web.Response(
        status=error.status,
        body=json.dumps(error.body()).encode(),
        content_type="application/json",
        headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id},
    )


@web.middleware
async def lambda_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request[REQUEST_ID] = str(uuid.uuid4())

    def error_response(error: ApiError, request_id: str) -> web.Response:
        # Worked out only for an error: which protocol a request speaks costs a look at its headers and body.
        return router.error_shape(request, lambda_error_response)(error, request_id)

    try:
        response = await handler(request)
    except ApiError as error:
        return error_response(error, request_id)
    except KeyringError as error:  # e.g. a master key retired while a sealed value still needed it
        # The details (the key file's path, key ids, which secret) are the operator's: they go to the log,
        # and the caller learns only that a stored secret could not be opened.
        log.error("request %s: %s", request_id, error)
        return error_response(KMSAccessDenied(
            f"{KMSAccessDenied().message} The operator's log has the details (request id {request_id})."), request_id)
    except web.HTTPNotFound:
        return error_response(UnknownOperation(f"No operation matches {request.method} {request.path}"), request_id)
    except web.HTTPMethodNotAllowed:
        return error_response(UnknownOperation(f"No operation matches {request.method} {request.path}"), request_id)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request_id)
        return error_response(ServiceError(f"Internal error (request id {request_id})"), request_id)
    response.headers.setdefault("x-amzn-RequestId", request_id)
    return response
