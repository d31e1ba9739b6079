"""Who may call the platform: principals with access keys and bearer tokens, roles with short-lived
sessions for execution environments, and the inline policies of both. Resolving a caller from a key
is cached in memory, so signature checks on the invoke path never wait for SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import string
from typing import Any

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.model import AccessKey, utcnow
from faas.security import policy
from faas.security.masterkey import MasterKey
from faas.services.cache import TtlCache
from faas.store.identities import IdentityStore, Session, Token

# IAM's name patterns (botocore's userNameType, roleNameType, policyNameType), whose \w is ASCII as in
# Java: a Unicode `\w` would let `аdmin` (Cyrillic а) stand beside `admin` and read the same.
NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
POLICY_NAME_RE = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
TOKEN_ID_RE = re.compile(r"tok-[0-9a-f]{16}")
KINDS = ("user", "service")
MAX_POLICY_BYTES = 10 * 1024
_KEY_ALPHABET = string.ascii_uppercase + string.digits
MIN_TOKEN_TTL_S = 60
DEFAULT_TOKEN_MAX_TTL_S = 7 * 86400
ADMIN = "admin"
DEFAULT_ROLE = "faas-default"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclasses.dataclass(frozen=True)
class Caller:
    """An authenticated caller, everything needed to check its signature and its permissions."""

    arn: str
    name: str
    kind: str  # user | service | session
    documents: tuple[dict, ...]
    secret: str | None = None  # plain, in memory only: signatures need it
    session_token_hash: str | None = None
    expires_at: dt.datetime | None = None
    function_name: str | None = None  # the function whose environment holds this session
    via_token: bool = False  # authenticated with a bearer token (which must not mint longer-lived ones)
    key_id: str | None = None  # the access key or session key proved; for a token, the key that minted it
    token_id: str | None = None  # the bearer token presented, if any


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_key_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return secrets.token_urlsafe(30)[:40]


def _name(value: Any, what: str, pattern: re.Pattern[str] = NAME_RE, most: int = 64) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidParameterValue(f"{what} must be 1-{most} ASCII letters, digits or +=,.@_- characters"
                                    + (" (no look-alike letters from other scripts)"
                                       if isinstance(value, str) and not value.isascii() else ""))
    return value


def role_name_in(arn: str, account_id: str) -> str | None:
    """The role an ARN names exactly, or None: `arn:aws:iam::<account>:role/<name>` and nothing else.

    Roles here have no paths, so `role/app-x/platform-admin` names no role (IAM would read it as the role
    `platform-admin` under the path `/app-x/`, which does not exist), and neither does another account's
    or another partition's ARN.
    """
    prefix = f"arn:aws:iam::{account_id}:role/"
    if not arn.startswith(prefix):
        return None
    name = arn[len(prefix):]
    return name if NAME_RE.fullmatch(name) else None


class IdentityService:
    def __init__(self, store: IdentityStore, master: MasterKey, account_id: str, node_id: str = "",
                 token_max_ttl_s: int = DEFAULT_TOKEN_MAX_TTL_S) -> None:
        self._store = store
        self._master = master
        self._account = account_id
        self._node = node_id
        self._token_max_ttl = dt.timedelta(seconds=token_max_ttl_s)
        # Other nodes change keys and policies too: what is cached here is re-read after a few seconds.
        self._by_key: TtlCache[Caller] = TtlCache()  # key id -> caller
        self._by_token: TtlCache[Caller] = TtlCache()  # token hash -> caller
        self._by_role: TtlCache[tuple[dict, ...]] = TtlCache(max_items=10_000)  # role name -> documents

    # -- ARNs ------------------------------------------------------------------------------------

    def user_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self._account}:user/{name}"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self._account}:role/{name}"

    def session_arn(self, role: str, function_name: str) -> str:
        return f"arn:aws:sts::{self._account}:assumed-role/{role}/{function_name}"

    # -- the request path: resolving callers -------------------------------------------------------

    async def caller_for_key(self, key_id: str) -> Caller | None:
        caller = self._by_key.get(key_id)
        if caller is None:
            caller = await self._load_key(key_id)
            if caller is None:
                return None
            self._by_key.put(key_id, caller)
        if caller.expires_at is not None and caller.expires_at <= utcnow():
            self._by_key.pop(key_id)
            return None
        return caller

    async def caller_for_token(self, token: str) -> Caller | None:
        digest = token_hash(token)
        caller = self._by_token.get(digest)
        if caller is None:
            found = await self._store.token(digest)  # None once its key is disabled or deleted
            if found is None:
                return None
            # A lowered FAAS_TOKEN_MAX_TTL_S shortens the tokens already out, too.
            expires_at = min(found.expires_at, found.created_at + self._token_max_ttl)
            caller = dataclasses.replace(await self._principal_caller(found.principal), expires_at=expires_at,
                                         key_id=found.key_id, token_id=found.token_id)
            self._by_token.put(digest, caller)
        if caller.expires_at is not None and caller.expires_at <= utcnow():
            self._by_token.pop(digest)
            return None
        return caller

    async def _load_key(self, key_id: str) -> Caller | None:
        key = await self._store.key(key_id)
        if key is not None:
            if not key.enabled:
                return None
            caller = await self._principal_caller(key.principal)
            return dataclasses.replace(caller, secret=self._master.open(key.secret, key.key_id).decode(),
                                       key_id=key.key_id)
        session = await self._store.session(key_id)
        if session is None or session.revoked:
            return None
        documents = await self._documents("role", session.role)
        return Caller(arn=self.session_arn(session.role, session.function_name), name=session.role,
                      kind="session", documents=documents,
                      secret=self._master.open(session.secret, session.key_id).decode(),
                      session_token_hash=session.token_hash, expires_at=session.expires_at,
                      function_name=session.function_name, key_id=session.key_id)

    async def _principal_caller(self, name: str) -> Caller:
        principal = await self._store.principal(name)
        if principal is None:
            raise ResourceNotFound(f"Principal not found: {name}")
        return Caller(arn=self.user_arn(name), name=name, kind=principal.kind,
                      documents=await self._documents("principal", name))

    async def _documents(self, owner_kind: str, owner: str) -> tuple[dict, ...]:
        return tuple(policy.parse_document(doc) for doc in (await self._store.policies(owner_kind, owner)).values())

    async def role_documents(self, role_arn: str) -> tuple[dict, ...] | None:
        """The policies of the role an execution-role ARN names, cached like a caller's; None when the ARN
        names no role of this account (which is then allowed nothing)."""
        role = role_name_in(role_arn, self._account)
        if role is None:
            return None
        documents = self._by_role.get(role)
        if documents is None:
            documents = self._by_role.put(role, await self._documents("role", role))
        return documents

    def _forget(self, *, principal: str | None = None, role: str | None = None, key_id: str | None = None,
                token_id: str | None = None) -> None:
        """Drop cached callers whose keys, tokens or policies just changed."""
        if role:
            self._by_role.pop(role)

        def changed(caller: Caller) -> bool:
            return bool((principal and caller.kind != "session" and caller.name == principal) or
                        (role and caller.kind == "session" and caller.name == role) or
                        (key_id and caller.key_id == key_id) or (token_id and caller.token_id == token_id))

        for cache in (self._by_key, self._by_token):
            cache.drop_where(changed)

    # -- principals, keys, tokens ------------------------------------------------------------------

    async def create_principal(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params.get("Name"), "Name")
        kind = params.get("Kind", "user")
        if kind not in KINDS:
            raise InvalidParameterValue("Kind must be user or service")
        principal = await self._store.add_principal(name, kind)
        return self.describe_principal(principal.name, principal.kind, principal.created_at)

    def describe_principal(self, name: str, kind: str, created_at: dt.datetime) -> dict[str, Any]:
        return {"Name": name, "Kind": kind, "Arn": self.user_arn(name), "CreatedAt": created_at.isoformat()}

    async def list_principals(self) -> list[dict[str, Any]]:
        return [self.describe_principal(p.name, p.kind, p.created_at) for p in await self._store.list_principals()]

    async def delete_principal(self, name: str) -> None:
        if name == ADMIN:
            raise InvalidParameterValue("The admin principal cannot be deleted")
        await self._store.delete_principal(name)
        self._forget(principal=name)

    async def create_key(self, principal: str) -> tuple[str, str]:
        """A new access key; the secret is returned this once and kept only sealed."""
        if await self._store.principal(principal) is None:
            raise ResourceNotFound(f"Principal not found: {principal}")
        key_id, secret = new_key_id("AKIA"), new_secret()
        await self._store.add_key(AccessKey(key_id=key_id, principal=principal,
                                            secret=self._master.seal(secret.encode(), key_id),
                                            enabled=True, created_at=utcnow()))
        return key_id, secret

    async def list_keys(self, principal: str | None = None) -> list[dict[str, Any]]:
        return [{"AccessKeyId": k.key_id, "Principal": k.principal, "Status": "Active" if k.enabled else "Inactive",
                 "CreatedAt": k.created_at.isoformat()} for k in await self._store.keys(principal)]

    async def key_owner(self, key_id: str) -> str | None:
        """The principal an access key belongs to (None for an unknown key)."""
        key = await self._store.key(key_id)
        return key.principal if key else None

    async def set_key_enabled(self, key_id: str, enabled: Any) -> None:
        if not isinstance(enabled, bool):
            raise InvalidParameterValue("Enabled must be true or false")
        await self._store.set_key_enabled(key_id, enabled)
        self._forget(key_id=key_id)  # the key's cached caller, and its tokens' too

    async def delete_key(self, key_id: str) -> None:
        await self._store.delete_key(key_id)
        self._forget(key_id=key_id)

    # -- bearer tokens -----------------------------------------------------------------------------

    @property
    def token_max_ttl_s(self) -> int:
        return int(self._token_max_ttl.total_seconds())

    async def create_token(self, caller: Caller, ttl_s: Any) -> tuple[dict[str, Any], str]:
        """A new bearer token for the caller, bound to the access key that signed the request; returns
        its description and the token itself, shown this once."""
        if caller.kind == "session":
            raise InvalidParameterValue("Role sessions cannot create bearer tokens")
        if caller.via_token:
            raise InvalidParameterValue("A bearer token cannot create another: sign the request with an access key")
        if caller.key_id is None:
            raise InvalidParameterValue("Only a request signed with an access key can create a bearer token")
        most = self.token_max_ttl_s
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not MIN_TOKEN_TTL_S <= ttl_s <= most:
            raise InvalidParameterValue(f"TtlSeconds must be an integer between {MIN_TOKEN_TTL_S} and {most} "
                                        "(FAAS_TOKEN_MAX_TTL_S)")
        token, now = "faas_" + secrets.token_urlsafe(32), utcnow()
        record = Token(token_id="tok-" + secrets.token_hex(8), token_hash=token_hash(token), principal=caller.name,
                       key_id=caller.key_id, expires_at=now + dt.timedelta(seconds=ttl_s), created_at=now)
        await self._store.add_token(record)
        return self.describe_token(record), token

    @staticmethod
    def describe_token(token: Token) -> dict[str, Any]:
        return {"TokenId": token.token_id, "Principal": token.principal, "AccessKeyId": token.key_id,
                "CreatedAt": token.created_at.isoformat(), "Expiration": token.expires_at.isoformat()}

    async def list_tokens(self, principal: str) -> list[dict[str, Any]]:
        """A principal's tokens that are still live (never the tokens themselves)."""
        if await self._store.principal(principal) is None:
            raise ResourceNotFound(f"Principal not found: {principal}")
        now = utcnow()
        return [self.describe_token(t) for t in await self._store.tokens(principal) if t.expires_at > now]

    async def token_owner(self, token_id: str) -> str | None:
        """The principal a token belongs to (None for an unknown token)."""
        token = await self._store.token_by_id(token_id) if TOKEN_ID_RE.fullmatch(token_id) else None
        return token.principal if token else None

    async def revoke_token(self, token_id: str) -> None:
        if not TOKEN_ID_RE.fullmatch(token_id):
            raise ResourceNotFound(f"Token not found: {token_id}")
        await self._store.delete_token(token_id)
        self._forget(token_id=token_id)

    # -- policies --------------------------------------------------------------------------------

    async def put_policy(self, owner_kind: str, owner: str, name: str, document: Any) -> dict[str, Any]:
        _name(name, "PolicyName", POLICY_NAME_RE, 128)
        text = document if isinstance(document, str) else json.dumps(document)
        parsed = policy.parse_document(text, max_bytes=MAX_POLICY_BYTES)
        await self._store.put_policy(owner_kind, owner, name, json.dumps(parsed))
        self._forget(**{"principal" if owner_kind == "principal" else "role": owner})
        return parsed

    async def policies(self, owner_kind: str, owner: str) -> dict[str, dict]:
        await self._require(owner_kind, owner)
        return {name: json.loads(doc) for name, doc in (await self._store.policies(owner_kind, owner)).items()}

    async def delete_policy(self, owner_kind: str, owner: str, name: str) -> None:
        await self._store.delete_policy(owner_kind, owner, name)
        self._forget(**{"principal" if owner_kind == "principal" else "role": owner})

    async def _require(self, owner_kind: str, owner: str) -> None:
        found = await (self._store.principal(owner) if owner_kind == "principal" else self._store.role(owner))
        if found is None:
            raise ResourceNotFound(f"{owner_kind.capitalize()} not found: {owner}")

    # -- roles and their sessions --------------------------------------------------------------------

    async def create_role(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params.get("Name"), "Name")
        description = params.get("Description", "")
        if not isinstance(description, str) or len(description) > 256:
            raise InvalidParameterValue("Description must be a string of at most 256 characters")
        role = await self._store.add_role(name, description)
        return self.describe_role(role.name, role.description, role.created_at)

    def describe_role(self, name: str, description: str, created_at: dt.datetime) -> dict[str, Any]:
        return {"Name": name, "Arn": self.role_arn(name), "Description": description,
                "CreatedAt": created_at.isoformat()}

    async def list_roles(self) -> list[dict[str, Any]]:
        return [self.describe_role(r.name, r.description, r.created_at) for r in await self._store.list_roles()]

    async def delete_role(self, name: str) -> None:
        await self._store.delete_role(name)
        self._forget(role=name)

    async def resolve_role_arn(self, arn: Any) -> str:
        """The ARN of the existing role `arn` names exactly (what iam:PassRole is checked against and what
        the function then runs as); anything else is refused."""
        name = role_name_in(arn, self._account) if isinstance(arn, str) else None
        if name is None or await self._store.role(name) is None:
            raise InvalidParameterValue(
                f"The role defined for the function cannot be assumed by Lambda. {arn} does not name an existing "
                f"role of this account, arn:aws:iam::{self._account}:role/<name> (create it with "
                "`faas roles create`)")
        return self.role_arn(name)

    async def issue_session(self, role_arn: str, function_name: str, ttl_s: int) -> dict[str, str]:
        """Short-lived credentials for an environment of `function_name`, allowed what its role allows.

        A stored role ARN that names no role exactly (one saved before roles were resolved exactly, such as
        `role/app-x/platform-admin`) gets the default role, which is allowed nothing.
        """
        role = role_name_in(role_arn, self._account) or DEFAULT_ROLE
        key_id, secret, token = new_key_id("ASIA"), new_secret(), "faas-session-" + secrets.token_urlsafe(48)
        expires_at = utcnow() + dt.timedelta(seconds=ttl_s)
        await self._store.add_session(Session(key_id=key_id, secret=self._master.seal(secret.encode(), key_id),
                                              token_hash=token_hash(token), role=role, function_name=function_name,
                                              expires_at=expires_at, revoked=False, node=self._node))
        return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}

    async def revoke_session(self, key_id: str) -> None:
        self._by_key.pop(key_id)
        await self._store.revoke_session(key_id)

    async def revoke_node_sessions(self) -> int:
        """At start: the environments of this node's previous run are gone, and so are their rights."""
        await self._store.drop_expired_sessions(utcnow())
        return await self._store.revoke_node_sessions(self._node)

    # -- first start ---------------------------------------------------------------------------------

    async def bootstrap(self) -> None:
        """The admin principal with full rights, and the default execution role (allowed nothing); expired
        tokens are forgotten."""
        if await self._store.principal(ADMIN) is None:
            await self._store.add_principal(ADMIN, "user")
        if "AdministratorAccess" not in await self._store.policies("principal", ADMIN):
            await self._store.put_policy("principal", ADMIN, "AdministratorAccess", json.dumps(ADMIN_POLICY))
        await self._store.drop_expired_tokens(utcnow())
        if await self._store.role(DEFAULT_ROLE) is None:
            await self._store.add_role(DEFAULT_ROLE, "Default execution role: allowed nothing until given policies")
