"""Principals, their access keys, bearer tokens and inline policies; roles, their policies and the
sessions handed to execution environments. Secrets arrive already sealed by the master key."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.errors import ResourceConflict, ResourceNotFound
from faas.model import AccessKey, utcnow
from faas.store.functions import as_utc
from faas.store.tables import (
    access_keys,
    principal_policies,
    principals,
    role_policies,
    roles,
    sessions,
    tokens,
)


@dataclasses.dataclass(frozen=True)
class Principal:
    name: str
    kind: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Role:
    name: str
    description: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Token:
    """A bearer token as stored: never the token itself, only its SHA-256."""

    token_id: str
    token_hash: str
    principal: str
    key_id: str  # the access key that minted it, and whose end is its end
    expires_at: dt.datetime
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Session:
    key_id: str
    secret: bytes  # sealed
    token_hash: str
    role: str
    function_name: str
    expires_at: dt.datetime
    revoked: bool
    node: str = ""  # the node whose environment holds it


class IdentityStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- principals ------------------------------------------------------------------------------

    async def add_principal(self, name: str, kind: str) -> Principal:
        principal = Principal(name, kind, utcnow())
        try:
            async with self._engine.begin() as conn:
                await _refuse_case_twin(conn, principals, name, "Principal")
                await conn.execute(insert(principals).values(**dataclasses.asdict(principal)))
        except IntegrityError as exc:
            raise ResourceConflict(f"Principal already exists: {name}") from exc
        return principal

    async def principal(self, name: str) -> Principal | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(principals).where(principals.c.name == name))).first()
        return Principal(row.name, row.kind, as_utc(row.created_at)) if row else None

    async def list_principals(self) -> list[Principal]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(principals).order_by(principals.c.name))).all()
        return [Principal(r.name, r.kind, as_utc(r.created_at)) for r in rows]

    async def delete_principal(self, name: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(access_keys).where(access_keys.c.principal == name))
            await conn.execute(delete(tokens).where(tokens.c.principal == name))
            await conn.execute(delete(principal_policies).where(principal_policies.c.principal == name))
            result = await conn.execute(delete(principals).where(principals.c.name == name))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Principal not found: {name}")

    # -- access keys -----------------------------------------------------------------------------

    async def add_key(self, key: AccessKey) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(access_keys).values(
                key_id=key.key_id, principal=key.principal, secret=key.secret, enabled=key.enabled,
                created_at=key.created_at))

    async def key(self, key_id: str) -> AccessKey | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(access_keys).where(access_keys.c.key_id == key_id))).first()
        return _key(row) if row else None

    async def keys(self, principal: str | None = None) -> list[AccessKey]:
        query = select(access_keys).order_by(access_keys.c.created_at)
        if principal is not None:
            query = query.where(access_keys.c.principal == principal)
        async with self._engine.connect() as conn:
            return [_key(row) for row in (await conn.execute(query)).all()]

    async def set_key_enabled(self, key_id: str, enabled: bool) -> None:
        """Enable or disable a key; disabling also revokes every token it minted, for good."""
        async with self._engine.begin() as conn:
            result = await conn.execute(update(access_keys).where(access_keys.c.key_id == key_id)
                                        .values(enabled=enabled))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Access key not found: {key_id}")
            if not enabled:
                await conn.execute(delete(tokens).where(tokens.c.key_id == key_id))

    async def delete_key(self, key_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(tokens).where(tokens.c.key_id == key_id))
            result = await conn.execute(delete(access_keys).where(access_keys.c.key_id == key_id))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Access key not found: {key_id}")

    async def reseal_keys(self, reseal) -> int:  # type: ignore[no-untyped-def]
        """Re-wrap every sealed key and session secret (master key rotation); returns how many."""
        count = 0
        async with self._engine.begin() as conn:
            for table, column in ((access_keys, access_keys.c.key_id), (sessions, sessions.c.key_id)):
                for row in (await conn.execute(select(column, table.c.secret))).all():
                    await conn.execute(update(table).where(column == row[0]).values(secret=reseal(bytes(row[1]), row[0])))
                    count += 1
        return count

    # -- bearer tokens ---------------------------------------------------------------------------

    async def add_token(self, token: Token) -> None:
        """Store a token, unless the key minting it was disabled or deleted meanwhile."""
        async with self._engine.begin() as conn:
            # Taking the key's row lock (PostgreSQL) orders this insert after a concurrent disable:
            # either the disable sees the token and revokes it, or this sees the key disabled.
            key = (await conn.execute(select(access_keys.c.enabled).where(access_keys.c.key_id == token.key_id)
                                      .with_for_update())).first()
            if key is None or not key.enabled:
                raise ResourceNotFound(f"Access key not found or not active: {token.key_id}")
            await conn.execute(insert(tokens).values(**dataclasses.asdict(token)))

    async def token(self, token_hash: str) -> Token | None:
        """A live token by its hash: its key must still exist and be enabled."""
        query = (select(tokens).join(access_keys, access_keys.c.key_id == tokens.c.key_id)
                 .where(tokens.c.token_hash == token_hash, access_keys.c.enabled.is_(True)))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _token(row) if row else None

    async def token_by_id(self, token_id: str) -> Token | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(tokens).where(tokens.c.token_id == token_id))).first()
        return _token(row) if row else None

    async def tokens(self, principal: str) -> list[Token]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(tokens).where(tokens.c.principal == principal)
                                       .order_by(tokens.c.created_at))).all()
        return [_token(row) for row in rows]

    async def delete_token(self, token_id: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(tokens).where(tokens.c.token_id == token_id))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Token not found: {token_id}")

    async def drop_expired_tokens(self, now: dt.datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(tokens).where(tokens.c.expires_at < now))

    # -- inline policies (principals and roles alike) ---------------------------------------------

    async def put_policy(self, owner_kind: str, owner: str, name: str, document: str) -> None:
        table, column = _policy_table(owner_kind)
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(column == owner, table.c.name == name))
            try:
                await conn.execute(insert(table).values({column.name: owner, "name": name, "document": document}))
            except IntegrityError as exc:
                raise ResourceNotFound(f"{owner_kind.capitalize()} not found: {owner}") from exc

    async def policies(self, owner_kind: str, owner: str) -> dict[str, str]:
        table, column = _policy_table(owner_kind)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(table.c.name, table.c.document).where(column == owner)
                                       .order_by(table.c.name))).all()
        return {row.name: row.document for row in rows}

    async def delete_policy(self, owner_kind: str, owner: str, name: str) -> None:
        table, column = _policy_table(owner_kind)
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(column == owner, table.c.name == name))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Policy {name} not found on {owner_kind} {owner}")

    # -- roles -----------------------------------------------------------------------------------

    async def add_role(self, name: str, description: str) -> Role:
        role = Role(name, description, utcnow())
        try:
            async with self._engine.begin() as conn:
                await _refuse_case_twin(conn, roles, name, "Role")
                await conn.execute(insert(roles).values(**dataclasses.asdict(role)))
        except IntegrityError as exc:
            raise ResourceConflict(f"Role already exists: {name}") from exc
        return role

    async def role(self, name: str) -> Role | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(roles).where(roles.c.name == name))).first()
        return Role(row.name, row.description, as_utc(row.created_at)) if row else None

    async def list_roles(self) -> list[Role]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(roles).order_by(roles.c.name))).all()
        return [Role(r.name, r.description, as_utc(r.created_at)) for r in rows]

    async def delete_role(self, name: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(role_policies).where(role_policies.c.role == name))
            result = await conn.execute(delete(roles).where(roles.c.name == name))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Role not found: {name}")

    # -- sessions ----------------------------------------------------------------------------------

    async def add_session(self, session: Session) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(sessions).values(**dataclasses.asdict(session)))

    async def session(self, key_id: str) -> Session | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.key_id == key_id))).first()
        if row is None:
            return None
        return Session(row.key_id, bytes(row.secret), row.token_hash, row.role, row.function_name,
                       as_utc(row.expires_at), row.revoked, row.node or "")

    async def session_secrets(self) -> list[bytes]:
        async with self._engine.connect() as conn:
            return [bytes(row.secret) for row in (await conn.execute(select(sessions.c.secret))).all()]

    async def revoke_session(self, key_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(sessions).where(sessions.c.key_id == key_id).values(revoked=True))

    async def revoke_node_sessions(self, node: str) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(sessions).where(sessions.c.node == node, sessions.c.revoked.is_(False))
                                        .values(revoked=True))
        return result.rowcount

    async def drop_expired_sessions(self, now: dt.datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.expires_at < now))


async def _refuse_case_twin(conn, table, name: str, what: str) -> None:  # type: ignore[no-untyped-def]
    """IAM names are unique regardless of case: `Admin` may not sit beside `admin`."""
    twin = (await conn.execute(select(table.c.name).where(func.lower(table.c.name) == name.lower()))).first()
    if twin is not None:
        raise ResourceConflict(f"{what} already exists: {twin.name}")


def _token(row) -> Token:  # type: ignore[no-untyped-def]
    return Token(token_id=row.token_id, token_hash=row.token_hash, principal=row.principal, key_id=row.key_id,
                 expires_at=as_utc(row.expires_at), created_at=as_utc(row.created_at))


def _key(row) -> AccessKey:  # type: ignore[no-untyped-def]
    return AccessKey(key_id=row.key_id, principal=row.principal, secret=bytes(row.secret), enabled=row.enabled,
                     created_at=as_utc(row.created_at))


def _policy_table(owner_kind: str):  # type: ignore[no-untyped-def]
    if owner_kind == "principal":
        return principal_policies, principal_policies.c.principal
    if owner_kind == "role":
        return role_policies, role_policies.c.role
    raise ValueError(owner_kind)
