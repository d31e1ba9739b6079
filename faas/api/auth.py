"""Every request is authenticated (SigV4 as boto3 signs, or a bearer token) and authorised before any
work is done; control-plane changes and refusals go to the audit log.

Handlers declare what they are with @operation: the IAM action they need, how big a body they take,
whether they are audited, and whether they are open. Only /health is open (function URLs authorise
each request themselves, anonymous callers through the function policy); a route without a
declaration is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from faas.api.body import BODY, DEFAULT_LIMIT, OPERATION, REQUEST_ID, SPOOL_IN_MEMORY, parse_json, read_at_most, \
    spool
from faas.errors import AccessDenied, ApiError, IncompleteSignature, InvalidParameterValue, InvalidSignature, \
    RequestTooLarge, ServiceError, UnrecognizedClient
from faas.model import utcnow
from faas.sandbox import repositories
from faas.security import policy, sigv4
from faas.services.functions import parse_function_ref
from faas.services.identities import Caller
from faas.store.audit import AuditEntry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
# Schedules run as the execution role they name: naming one is passing it, as on AWS.
SCHEDULE_ROLE_ACTIONS = frozenset({"scheduler:CreateSchedule", "scheduler:UpdateSchedule"})
INVOKE_ACTIONS = frozenset({"lambda:InvokeFunction", "lambda:InvokeFunctionUrl"})
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def operation(action: str, *, body_limit: int = DEFAULT_LIMIT, audited: bool = True, open: bool = False,
              resource: Callable[[web.Request], str] | None = None) -> Callable[[Handler], Handler]:
    """Declare a handler's IAM action, body limit and whether its calls are audited. `resource`, when the
    path does not name what the call acts on, finds its ARN in the authenticated request (its body)."""

    def declare(handler: Handler) -> Handler:
        handler.resource_of = resource  # type: ignore[attr-defined]
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

    async def authenticate(self, request: web.Request, body_limit: int, operation: str | None = None) -> Caller:
        """The caller, with the body in request[BODY]; its ARN in request[PRINCIPAL] for the access log, which
        names who called whether the call is then allowed or refused."""
        caller = await self._credentials(request, body_limit, operation)
        request[PRINCIPAL] = caller.arn
        return caller

    async def _credentials(self, request: web.Request, body_limit: int, operation: str | None) -> Caller:
        """The caller the request's credentials name, with the body in request[BODY]. Nothing larger than a few headers is read before the
        credentials are known good: a declared length over `body_limit` is refused before a byte of the body
        is read, and a body whose signature covers it is only held in memory once that signature is checked."""
        # Worded as Lambda words it, naming the API operation: "... for the CreateFunction operation".
        too_large = RequestTooLarge(f"Request must be smaller than {body_limit} bytes"
                                    + (f" for the {operation} operation" if operation else ""))
        if request.content_length is not None and request.content_length > body_limit:
            raise too_large
        header = request.headers.get("Authorization")
        query = request.rel_url.raw_query_string
        if sigv4.is_presigned(query):
            if header:
                raise IncompleteSignature("Only one authentication mechanism is allowed: the Authorization header "
                                          "or a presigned URL's X-Amz-* query parameters, not both")
            return await self._presigned(request, query, body_limit, too_large)
        if not header:
            raise UnrecognizedClient("Missing Authentication Token: sign the request (SigV4) or send a bearer token")
        if not header.isascii():  # aiohttp hands undecodable bytes over as surrogates; they name no credential
            raise IncompleteSignature("The Authorization header must be ASCII")
        if header.startswith("Bearer "):
            caller = await self.identities.caller_for_token(header[7:].strip())
            if caller is None:
                raise UnrecognizedClient("The bearer token is unknown or expired.")
            caller = dataclasses.replace(caller, via_token=True)
            request[BODY] = await read_at_most(request, body_limit, too_large)
            return caller
        return await self._sigv4(request, header, body_limit, too_large)

    async def authenticated_body(self, request: web.Request, body_limit: int) -> tuple[Caller, bytes]:
        """The caller and the body its credentials cover, for sources that serve HTTP (function URLs)."""
        caller = await self.authenticate(request, body_limit)
        return caller, request[BODY]

    async def _sigv4(self, request: web.Request, header: str, body_limit: int, too_large: RequestTooLarge) -> Caller:
        try:
            auth = sigv4.parse_authorization(header)
        except ValueError as exc:
            raise InvalidSignature(f"Authorization header is malformed: {exc}") from exc
        stamp = request.headers.get("X-Amz-Date", "")
        try:
            signed_at = sigv4.parse_amz_date(stamp)
        except ValueError as exc:
            raise InvalidSignature("X-Amz-Date is missing or malformed") from exc
        now = utcnow()
        if abs(now - signed_at) > MAX_CLOCK_SKEW:
            raise InvalidSignature(f"Signature expired: {stamp} is not within 15 minutes of {sigv4.amz_date(now)}")
        if auth.date != stamp[:8] or "x-amz-date" not in auth.signed_headers or "host" not in auth.signed_headers:
            raise InvalidSignature("The credential scope date, the signed headers or X-Amz-Date do not agree")
        caller = await self._signer(auth.access_key_id, request.headers.get("X-Amz-Security-Token", ""))
        request[BODY] = await self._signed_body(request, auth, stamp, caller.secret, body_limit, too_large,
                                                presigned=False)
        return caller

    async def _presigned(self, request: web.Request, query: str, body_limit: int,
                         too_large: RequestTooLarge) -> Caller:
        """Query authentication (a presigned URL, as botocore's SigV4QueryAuth writes it): the same checks as
        the header's, in the same order, before a byte of the body is read; the URL is good from X-Amz-Date
        for X-Amz-Expires seconds, and the signature covers method, path and every query parameter."""
        try:
            signed = sigv4.parse_presigned(query)
        except ValueError as exc:
            raise InvalidSignature(f"The presigned URL's X-Amz-* query parameters are malformed: {exc}") from exc
        auth, stamp = signed.authorization, signed.amz_date
        signed_at = sigv4.parse_amz_date(stamp)  # parse_presigned checked it
        now = utcnow()
        if signed_at - now > MAX_CLOCK_SKEW:
            raise InvalidSignature(f"Signature not yet current: X-Amz-Date {stamp} is more than 15 minutes after "
                                   f"{sigv4.amz_date(now)}")
        expires_at = signed_at + dt.timedelta(seconds=signed.expires)
        if now > expires_at:
            raise InvalidSignature(f"Request has expired: signed at {stamp} for {signed.expires} seconds, it expired "
                                   f"at {sigv4.amz_date(expires_at)}; it is now {sigv4.amz_date(now)}")
        if auth.date != stamp[:8] or "host" not in auth.signed_headers:
            raise InvalidSignature("The credential scope date, the signed headers or X-Amz-Date do not agree")
        # A session's token must be in the query, where the signature covers it; a header would not be signed.
        caller = await self._signer(auth.access_key_id, signed.security_token or "")
        request[BODY] = await self._signed_body(request, auth, stamp, caller.secret, body_limit, too_large,
                                                presigned=True)
        return caller

    async def _signer(self, access_key_id: str, token: str) -> Caller:
        """The principal an access key belongs to, with the session token its temporary credentials need."""
        caller = await self.identities.caller_for_key(access_key_id)
        if caller is None or caller.secret is None:
            raise UnrecognizedClient()
        if caller.session_token_hash is not None:
            if not token.isascii():
                raise IncompleteSignature("X-Amz-Security-Token must be ASCII")
            if hashlib.sha256(token.encode()).hexdigest() != caller.session_token_hash:
                raise UnrecognizedClient()
        return caller

    async def _signed_body(self, request: web.Request, auth: sigv4.Authorization, stamp: str, secret: str,
                           body_limit: int, too_large: RequestTooLarge, *, presigned: bool) -> bytes:
        """The body, read no further than its signature allows: checked first when its hash is declared."""
        # A presigned URL's signature covers the body it was signed with (botocore's: none), whatever a header
        # holding the URL adds says; a header-signed request may declare its hash, or UNSIGNED-PAYLOAD.
        declared = None if presigned else request.headers.get("X-Amz-Content-Sha256")
        if declared is not None:
            # The hash is in a header: the signature can be checked before a byte of the body is read.
            if declared != sigv4.UNSIGNED_PAYLOAD and not _SHA256_HEX.fullmatch(declared):
                raise InvalidSignature("X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or the hex SHA-256 of the body")
            self._verify(request, auth, stamp, secret, declared, presigned)
            body = await read_at_most(request, body_limit, too_large)
            if declared != sigv4.UNSIGNED_PAYLOAD and sigv4.payload_hash(body) != declared.lower():
                raise InvalidSignature("The payload does not match X-Amz-Content-Sha256")
        elif request.content_length is not None and request.content_length <= SPOOL_IN_MEMORY:
            # The SDKs sign the body's hash without sending it (Lambda's clients do), so the body must be
            # read first. A small one (an invocation) is read as it is: its declared length bounds it.
            body = await read_at_most(request, body_limit, too_large)
            self._verify(request, auth, stamp, secret, sigv4.payload_hash(body), presigned)
        else:
            # A large or chunked one is spooled through the hash rather than held until the signature is known.
            spooled = await spool(request, body_limit, too_large, self.settings.data_dir)
            try:
                self._verify(request, auth, stamp, secret, spooled.sha256, presigned)
                body = await spooled.read()
            finally:
                spooled.close()
        return body

    def _verify(self, request: web.Request, auth: sigv4.Authorization, stamp: str, secret: str,
                payload_hash: str, presigned: bool) -> None:
        path, _, query = request.raw_path.partition("?")
        omit = frozenset({sigv4.SIGNATURE_PARAM}) if presigned else frozenset()
        key_cache = (auth.access_key_id, auth.date, auth.region, auth.service)
        key = self._signing_keys.get(key_cache)
        if key is None:
            if len(self._signing_keys) > 10_000:
                self._signing_keys.clear()
            key = self._signing_keys[key_cache] = sigv4.signing_key(secret, auth.date, auth.region, auth.service)
        # botocore's SigV4QueryAuth signs the hash of the (empty) body; S3-style presigners sign UNSIGNED-PAYLOAD
        # instead, which is accepted only when there is no body for it to leave unsigned.
        hashes = [payload_hash]
        if presigned and payload_hash == sigv4.EMPTY_SHA256:
            hashes.append(sigv4.UNSIGNED_PAYLOAD)
        for candidate in hashes:
            canonical = sigv4.canonical_request(request.method, path, query, request.headers.items(),
                                                auth.signed_headers, candidate, omit)
            expected = sigv4.signature(key, sigv4.string_to_sign(stamp, auth.scope, canonical))
            if sigv4.signatures_match(expected, auth.signature):
                return
        raise InvalidSignature()

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

    async def acted_on(self, request: web.Request, action: str, caller: Caller, resource: str,
                       function_name: str | None) -> tuple[str, str | None]:
        """The resource once the caller is known: what a route acts on when its path alone does not say.

        Keys and tokens act on their owner's user ARN (as IAM authorises UpdateAccessKey on the user), so a
        principal allowed them on its own ARN cannot touch another's; an unknown key or token acts on "*"
        (only a principal allowed everything learns that it does not exist). The audit log filtered by a
        caller acts on that caller's ARN, unfiltered on the log's own ARN; environments act on the function
        they are filtered by, else on every function.
        """
        query, info = request.query, request.match_info
        if action == "lambda:CreateFunction":  # the resource is the function it creates
            return self.created_function(request)
        if action == "faas:CreateToken":
            return caller.arn, None
        if action in ("faas:ListTokens", "faas:ListAccessKeys"):
            if "principal" in query:
                return self.identities.user_arn(query["principal"]), None
            return (caller.arn if action == "faas:ListTokens" else "*"), None
        if "key" in info:
            owner = await self.identities.key_owner(info["key"])
            return (self.identities.user_arn(owner) if owner else "*"), None
        if "token" in info:
            owner = await self.identities.token_owner(info["token"])
            return (self.identities.user_arn(owner) if owner else "*"), None
        if action == "faas:GetAuditLog":
            principal = query.get("principal", "")
            return (principal if principal.startswith("arn:") else
                    f"arn:aws:faas:{self.settings.region}:{self.settings.account_id}:audit-log"), None
        if action == "faas:ListEnvironments":
            try:
                name = parse_function_ref(query["function"]) if "function" in query else "*"
            except ApiError:
                return "*", None  # the handler answers the bad name itself
            return self.settings.function_arn(name), (name if name != "*" else None)
        return resource, function_name

    def created_function(self, request: web.Request) -> tuple[str, str | None]:
        try:
            name = parse_json(request, request[BODY]).get("FunctionName")
            return self.settings.function_arn(parse_function_ref(name)), name
        except (ValueError, AttributeError, TypeError, ApiError):
            return "*", None  # the handler refuses the body itself

    @staticmethod
    def passed_role(request: web.Request, action: str) -> object | None:
        """The Role a request gives a function, or the execution role it gives a schedule, as sent (None when
        it gives none)."""
        try:
            if action in ("lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"):
                return parse_json(request, request[BODY]).get("Role")
            if action in SCHEDULE_ROLE_ACTIONS:
                target = parse_json(request, request[BODY]).get("Target")
                return target.get("RoleArn") if isinstance(target, dict) else None
        except (ValueError, AttributeError):
            pass  # the handler refuses the body itself
        return None

    async def authorize_pass_role(self, request: web.Request, action: str, caller: Caller) -> None:
        """Giving a function a role is acting with that role's rights: the caller must be allowed
        iam:PassRole on the ARN of the role the function will run as. The Role is resolved exactly (path and
        all) before the check, and one that names no existing role is refused here, so no spelling of an
        ARN can be checked as one role and run as another."""
        role = self.passed_role(request, action)
        if role is None:
            return
        try:
            arn = await self.identities.resolve_role_arn(role)
        except InvalidParameterValue:
            if action in SCHEDULE_ROLE_ACTIONS:
                return  # the scheduler refuses a role that does not exist in its own error shape
            raise
        await self.authorize(caller, "iam:PassRole", arn, None)

    def used_image(self, request: web.Request, action: str) -> str | None:
        """The ECR-style ARN of the image repository a create or code update would run, if any."""
        if action not in ("lambda:CreateFunction", "lambda:UpdateFunctionCode"):
            return None
        try:
            params = parse_json(request, request[BODY])
            uri = (params.get("Code") or {}).get("ImageUri") if action == "lambda:CreateFunction" \
                else params.get("ImageUri")
        except (ValueError, AttributeError):
            return None
        repo = repositories.repository(uri) if isinstance(uri, str) else None
        # An unparsable URI is refused by the handler with the same parser, before anything is stored.
        return repositories.repository_arn(self.settings.region, self.settings.account_id, repo) if repo else None

    def record(self, request: web.Request, caller: Caller | None, action: str, resource: str, status: int,
               outcome: str) -> None:
        self.audit.add(AuditEntry(
            at=utcnow(), principal=caller.arn if caller else "anonymous", action=action, resource=resource,
            status=status, outcome=outcome, request_id=request.get(REQUEST_ID, ""),
            source_ip=request.remote or ""))


def permits(caller: Caller, action: str, resource: str) -> bool:
    """Whether the caller's own policies allow `action` on `resource` (pure, on its cached documents): for
    answers that show a caller only what it may read, such as environment variables."""
    return policy.is_allowed(policy.evaluate(caller.documents, action, resource))


GUARD = web.AppKey("guard", Guard)
CALLER = web.RequestKey("caller", Caller)
PRINCIPAL = web.RequestKey("principal", str)  # the authenticated caller's ARN, allowed or not


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route: it answers 404/405 itself
    target = request.match_info.handler
    if hasattr(target, "resolve"):  # one route for many operations (faas.api.awsjson): the one this request calls
        target = target.resolve(request)
    action = getattr(target, "action", None)
    if action is None:  # fail closed: a route nobody declared is a bug, not an open door
        raise ServiceError(f"{request.method} {request.path} has no declared operation")
    request[OPERATION] = action
    if target.open:
        return await handler(request)
    checks: Guard = request.app[GUARD]
    resource, function_name = checks.resource(request)
    caller: Caller | None = None
    try:
        caller = await checks.authenticate(request, target.body_limit, action.partition(":")[2])
        if hasattr(target, "resolve_body"):  # the query protocol names its operation in the authenticated body
            target = target.resolve_body(request)
            action = request[OPERATION] = target.action
        resource, function_name = await checks.acted_on(request, action, caller, resource, function_name)
        if target.resource_of is not None:
            resource = target.resource_of(request)
        await checks.authorize(caller, action, resource, function_name)
        await checks.authorize_pass_role(request, action, caller)
        image = checks.used_image(request, action)
        if image is not None:
            # Running an image is pulling it: as on AWS, the caller needs ECR's pull actions on its repository.
            for image_action in repositories.IMAGE_ACTIONS:
                await checks.authorize(caller, image_action, image, None)
    except (AccessDenied, UnrecognizedClient, InvalidSignature) as refusal:
        checks.record(request, caller, action, resource, refusal.status, "denied")
        raise
    except InvalidParameterValue as error:  # a Role that names no role: refused before the handler runs
        if caller is not None:
            checks.record(request, caller, action, resource, error.status, "failed")
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
