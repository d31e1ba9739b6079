"""faas's native API for who may do what: principals, access keys, bearer tokens, roles, inline
policies, and the audit log.

What each route acts on, for identity policies to scope (see `Guard.acted_on`): a principal's keys and
tokens act on its user ARN, `arn:aws:iam::<account>:user/<name>` (as IAM authorises its access-key
actions on the user), a role's policies on the role's ARN, and the audit log on the ARN of the principal
it is filtered by, else on `arn:aws:faas:<region>:<account>:audit-log`.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from faas.api.auth import CALLER, operation
from faas.api.body import read_json
from faas.api.context import services
from faas.errors import InvalidParameterValue

NATIVE = "/faas/v1"


@operation("faas:CreatePrincipal")
async def create_principal(request: web.Request) -> web.Response:
    ctx = services(request)
    principal = await ctx.identities.create_principal(await read_json(request, "CreatePrincipal"))
    return web.json_response(principal, status=201)


@operation("faas:ListPrincipals", audited=False)
async def list_principals(request: web.Request) -> web.Response:
    return web.json_response({"Principals": await services(request).identities.list_principals()})


@operation("faas:DeletePrincipal")
async def delete_principal(request: web.Request) -> web.Response:
    await services(request).identities.delete_principal(request.match_info["principal"])
    return web.Response(status=204)


@operation("faas:CreateAccessKey")
async def create_key(request: web.Request) -> web.Response:
    principal = request.match_info["principal"]
    key_id, secret = await services(request).identities.create_key(principal)
    # The only time the secret leaves the platform.
    return web.json_response({"AccessKeyId": key_id, "SecretAccessKey": secret, "Principal": principal}, status=201)


@operation("faas:ListAccessKeys", audited=False)
async def list_keys(request: web.Request) -> web.Response:
    keys = await services(request).identities.list_keys(request.query.get("principal"))
    return web.json_response({"AccessKeys": keys})


@operation("faas:UpdateAccessKey")
async def update_key(request: web.Request) -> web.Response:
    params = await read_json(request, "UpdateAccessKey")
    await services(request).identities.set_key_enabled(request.match_info["key"], params.get("Enabled"))
    return web.json_response({"AccessKeyId": request.match_info["key"], "Enabled": params["Enabled"]})


@operation("faas:DeleteAccessKey")
async def delete_key(request: web.Request) -> web.Response:
    await services(request).identities.delete_key(request.match_info["key"])
    return web.Response(status=204)


@operation("faas:CreateToken")
async def create_token(request: web.Request) -> web.Response:
    params = await read_json(request, "CreateToken")
    described, token = await services(request).identities.create_token(request[CALLER],
                                                                       params.get("TtlSeconds", 3600))
    # The only time the token leaves the platform.
    return web.json_response({"Token": token, **described}, status=201)


@operation("faas:ListTokens", audited=False)
async def list_tokens(request: web.Request) -> web.Response:
    caller = request[CALLER]
    if "principal" not in request.query and caller.kind == "session":
        return web.json_response({"Tokens": []})  # a role session can mint no token
    principal = request.query.get("principal", caller.name)  # what the guard authorised, to the letter
    return web.json_response({"Tokens": await services(request).identities.list_tokens(principal)})


@operation("faas:RevokeToken")
async def revoke_token(request: web.Request) -> web.Response:
    await services(request).identities.revoke_token(request.match_info["token"])
    return web.Response(status=204)


def _owner(request: web.Request) -> tuple[str, str]:
    if "principal" in request.match_info:
        return "principal", request.match_info["principal"]
    return "role", request.match_info["role"]


@operation("faas:PutPolicy")
async def put_policy(request: web.Request) -> web.Response:
    kind, owner = _owner(request)
    params = await read_json(request, "PutPolicy")
    if "PolicyDocument" not in params:
        raise InvalidParameterValue("PolicyDocument is required")
    document = await services(request).identities.put_policy(kind, owner, request.match_info["policy"],
                                                             params["PolicyDocument"])
    return web.json_response({"PolicyName": request.match_info["policy"], "PolicyDocument": document})


@operation("faas:GetPolicies", audited=False)
async def get_policies(request: web.Request) -> web.Response:
    kind, owner = _owner(request)
    return web.json_response({"Policies": await services(request).identities.policies(kind, owner)})


@operation("faas:DeletePolicy")
async def delete_policy(request: web.Request) -> web.Response:
    kind, owner = _owner(request)
    await services(request).identities.delete_policy(kind, owner, request.match_info["policy"])
    return web.Response(status=204)


@operation("faas:CreateRole")
async def create_role(request: web.Request) -> web.Response:
    role = await services(request).identities.create_role(await read_json(request, "CreateRole"))
    return web.json_response(role, status=201)


@operation("faas:ListRoles", audited=False)
async def list_roles(request: web.Request) -> web.Response:
    return web.json_response({"Roles": await services(request).identities.list_roles()})


@operation("faas:DeleteRole")
async def delete_role(request: web.Request) -> web.Response:
    await services(request).identities.delete_role(request.match_info["role"])
    return web.Response(status=204)


@operation("faas:GetAuditLog", audited=False)
async def audit_log(request: web.Request) -> web.Response:
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise InvalidParameterValue("limit must be an integer between 1 and 1000")
    since = None
    if "since" in request.query:
        try:
            since = dt.datetime.fromisoformat(request.query["since"])
        except ValueError as exc:
            raise InvalidParameterValue("since must be an ISO 8601 time") from exc
        since = since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
    ctx = services(request)
    entries = await ctx.audit_log.entries(principal=request.query.get("principal"),
                                          action=request.query.get("action"), since=since, limit=int(raw_limit))
    return web.json_response({"Entries": [
        {"Time": e.at.isoformat(), "Principal": e.principal, "Action": e.action, "Resource": e.resource,
         "Status": e.status, "Outcome": e.outcome, "RequestId": e.request_id, "SourceIp": e.source_ip}
        for e in entries
    ]})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(NATIVE + "/principals", create_principal)
    r.add_get(NATIVE + "/principals", list_principals)
    r.add_delete(NATIVE + "/principals/{principal}", delete_principal)
    r.add_post(NATIVE + "/principals/{principal}/keys", create_key)
    r.add_get(NATIVE + "/keys", list_keys)
    r.add_patch(NATIVE + "/keys/{key}", update_key)
    r.add_delete(NATIVE + "/keys/{key}", delete_key)
    r.add_post(NATIVE + "/tokens", create_token)
    r.add_get(NATIVE + "/tokens", list_tokens)
    r.add_delete(NATIVE + "/tokens/{token}", revoke_token)
    for owner in ("/principals/{principal}", "/roles/{role}"):
        r.add_put(NATIVE + owner + "/policies/{policy}", put_policy)
        r.add_get(NATIVE + owner + "/policies", get_policies)
        r.add_delete(NATIVE + owner + "/policies/{policy}", delete_policy)
    r.add_post(NATIVE + "/roles", create_role)
    r.add_get(NATIVE + "/roles", list_roles)
    r.add_delete(NATIVE + "/roles/{role}", delete_role)
    r.add_get(NATIVE + "/audit", audit_log)
