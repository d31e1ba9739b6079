"""Every request is authenticated (SigV4 as boto3 signs, or a bearer token) and authorised before any
work is done; control-plane changes and refusals go to the audit log.

Handlers declare what they are with @operation: the IAM action they need, how big a body they take,
whether they are audited, and whether they are open. Only /health (and, later, function URLs with
auth NONE) are open; a route without a declaration is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.body import BODY, DEFAULT_LIMIT, REQUEST_ID, parse_json, read_at_most
from faas.errors import AccessDenied, ApiError, RequestTooLarge, ServiceError
from faas.model import utcnow
from faas.security import policy, sigv4
from faas.services.functions import parse_function_ref
from faas.services.identities import Caller
from faas.store.audit import AuditEntry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
INVOKE_ACTIONS = frozenset({"lambda:InvokeFunction", "lambda:InvokeFunctionUrl"})


class UnrecognizedClient(ApiError):
    """The security token included in the request is invalid."""

    status = 403
    code = "UnrecognizedClientException"
    error_type = "User"


class InvalidSignature(ApiError):
    """The request signature we calculated does not match the signature you provided."""

    status = 403
    code = "InvalidSignatureException"
    error_type = "User"


def operation(action: str, *, body_limit: int = DEFAULT_LIMIT, audited: bool = True,
              open: bool = False) -> Callable[[Handler], Handler]:
    """Declare a handler's IAM action, body limit and whether its calls are audited."""

    def declare(handler: Handler) -> Handler:
        handler.action = action  # type: ignore[attr-defined]
        handler.body_limit = body_limit  # type: ignore[attr-defined]
        handler.audited = audited  # type: ignore[attr-defined]
        handler.open = open  # type: ignore[attr-defined]
        return handler

    return declare


class Guard:
    """Authentication and authorisation, with the caches that keep them off SQL."""

    def __init__(self, identities, permissions, audit, settings) -> None:  # type: ignore[no-untyped-def]
        self.identities = identities
        self.permissions = permissions
        self.audit = audit
        self.settings = settings
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    async def authenticate(self, request: web.Request, body_limit: int) -> Caller:
        header = request.headers.get("Authorization")
        if not header:
            raise UnrecognizedClient("Missing Authentication Token: sign the request (SigV4) or send a bearer token")
        if header.startswith("Bearer "):
            caller = await self.identities.caller_for_token(header[7:].strip())
            if caller is None:
                raise UnrecognizedClient("The bearer token is unknown or expired.")
            caller = dataclasses.replace(caller, via_token=True)
            request[BODY] = await _read(request, body_limit)
            return caller
        return await self._sigv4(request, header, body_limit)

    async def _sigv4(self, request: web.Request, header: str, body_limit: int) -> Caller:
        try:
            auth = sigv4.parse_authorization(header)
        except ValueError as exc:
            raise InvalidSignature(f"Authorization header is malformed: {exc}") from exc
        stamp = request.headers.get("X-Amz-Date", "")
        try:
            signed_at = dt.datetime.strptime(stamp, sigv4.AMZ_DATE_FORMAT).replace(tzinfo=dt.timezone.utc)
        except ValueError as exc:
            raise InvalidSignature("X-Amz-Date is missing or malformed") from exc
        now = utcnow()
        if abs(now - signed_at) > MAX_CLOCK_SKEW:
            raise InvalidSignature(f"Signature expired: {stamp} is not within 15 minutes of {sigv4.amz_date(now)}")
        if auth.date != stamp[:8] or "x-amz-date" not in auth.signed_headers or "host" not in auth.signed_headers:
            raise InvalidSignature("The credential scope date, the signed headers or X-Amz-Date do not agree")
        caller = await self.identities.caller_for_key(auth.access_key_id)
        if caller is None or caller.secret is None:
            raise UnrecognizedClient()
        if caller.session_token_hash is not None:
            token = request.headers.get("X-Amz-Security-Token", "")
            if hashlib.sha256(token.encode()).hexdigest() != caller.session_token_hash:
                raise UnrecognizedClient()
        body = await _read(request, body_limit)
        request[BODY] = body
        declared = request.headers.get("X-Amz-Content-Sha256")
        digest = sigv4.payload_hash(body)
        if declared and declared != sigv4.UNSIGNED_PAYLOAD and declared != digest:
            raise InvalidSignature("The payload does not match X-Amz-Content-Sha256")
        path, _, query = request.raw_path.partition("?")
        canonical = sigv4.canonical_request(request.method, path, query, request.headers.items(),
                                            auth.signed_headers, declared or digest)
        key_cache = (auth.access_key_id, auth.date, auth.region, auth.service)
        key = self._signing_keys.get(key_cache)
        if key is None:
            if len(self._signing_keys) > 10_000:
                self._signing_keys.clear()
            key = self._signing_keys[key_cache] = sigv4.signing_key(caller.secret, auth.date, auth.region,
                                                                    auth.service)
        expected = sigv4.signature(key, sigv4.string_to_sign(stamp, auth.scope, canonical))
        if not sigv4.signatures_match(expected, auth.signature):
            raise InvalidSignature()
        return caller

    async def authorize(self, caller: Caller, action: str, resource: str, function_name: str | None,
                        context: dict[str, str] | None = None) -> None:
        identity = policy.evaluate(caller.documents, action, resource)
        resource_decision = policy.NO_MATCH
        if action in INVOKE_ACTIONS and function_name is not None and identity != policy.DENY:
            statements = await self.permissions.statements(function_name)
            if statements:
                resource_decision = policy.evaluate_resource_policy(
                    statements, principal=caller.arn, action=action, resource=resource, context=context or {})
        if not policy.is_allowed(identity, resource_decision):
            raise AccessDenied(f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}")

    def resource(self, request: web.Request) -> tuple[str, str | None]:
        """The ARN a request acts on, and the function it names if any."""
        info = request.match_info
        if "function" in info:
            try:
                name = parse_function_ref(info["function"])
            except ApiError:
                return "*", None  # the handler answers the bad name itself
            return self.settings.function_arn(name), name
        if "principal" in info:
            return self.identities.user_arn(info["principal"]), None
        if "role" in info:
            return self.identities.role_arn(info["role"]), None
        return "*", None

    def created_function(self, request: web.Request) -> tuple[str, str | None]:
        try:
            name = parse_json(request, request[BODY]).get("FunctionName")
            return self.settings.function_arn(parse_function_ref(name)), name
        except (ValueError, AttributeError, TypeError, ApiError):
            return "*", None  # the handler refuses the body itself

    @staticmethod
    def passed_role(request: web.Request, action: str) -> str | None:
        if action not in ("lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"):
            return None
        try:
            role = parse_json(request, request[BODY]).get("Role")
        except (ValueError, AttributeError):
            return None
        return role if isinstance(role, str) else None

    def record(self, request: web.Request, caller: Caller | None, action: str, resource: str, status: int,
               outcome: str) -> None:
        self.audit.add(AuditEntry(
            at=utcnow(), principal=caller.arn if caller else "anonymous", action=action, resource=resource,
            status=status, outcome=outcome, request_id=request.get(REQUEST_ID, ""),
            source_ip=request.remote or ""))


async def _read(request: web.Request, limit: int) -> bytes:
    return await read_at_most(request, limit, RequestTooLarge(f"Request must be smaller than {limit} bytes"))


GUARD = web.AppKey("guard", Guard)
CALLER = web.RequestKey("caller", Caller)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route: it answers 404/405 itself
    target = request.match_info.handler
    action = getattr(target, "action", None)
    if action is None:  # fail closed: a route nobody declared is a bug, not an open door
        raise ServiceError(f"{request.method} {request.path} has no declared operation")
    if target.open:
        return await handler(request)
    checks: Guard = request.app[GUARD]
    resource, function_name = checks.resource(request)
    caller: Caller | None = None
    try:
        caller = await checks.authenticate(request, target.body_limit)
        if action == "lambda:CreateFunction":  # the resource is the function it creates
            resource, function_name = checks.created_function(request)
        await checks.authorize(caller, action, resource, function_name)
        role = checks.passed_role(request, action)
        if role is not None:
            # Giving a function a role is acting with that role's rights: the caller must be allowed to.
            await checks.authorize(caller, "iam:PassRole", role, None)
    except (AccessDenied, UnrecognizedClient, InvalidSignature) as refusal:
        checks.record(request, caller, action, resource, refusal.status, "denied")
        raise
    request[CALLER] = caller
    try:
        response = await handler(request)
    except ApiError as error:
        if target.audited:
            checks.record(request, caller, action, resource, error.status, "failed")
        raise
    if target.audited:
        checks.record(request, caller, action, resource, response.status, "allowed")
    return response
