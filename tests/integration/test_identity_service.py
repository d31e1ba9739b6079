"""faas.services.identities over the real SQL store (SQLite and PostgreSQL): bearer tokens bound to the
access key that minted them, their lifetime cap, listing and revoking them; roles resolved from their exact
ARN; IAM names unique regardless of case."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.security.masterkey import MasterKey
from faas.services.identities import Caller, IdentityService
from faas.store.identities import IdentityStore
from faas.store.tables import access_keys, tokens


ACCOUNT = "123456789012"


def service(engine: AsyncEngine, token_max_ttl_s: int = 7 * 86400) -> IdentityService:
    master = MasterKey.from_setting(base64.b64encode(os.urandom(32)).decode())
    return IdentityService(IdentityStore(engine), master, ACCOUNT, "node-1", token_max_ttl_s=token_max_ttl_s)


async def signed_in(identities: IdentityService, name: str) -> Caller:
    """A principal with one key, as the guard sees it after checking a signature made with that key."""
    await identities.create_principal({"Name": name})
    key_id, _ = await identities.create_key(name)
    caller = await identities.caller_for_key(key_id)
    assert caller is not None and caller.key_id == key_id
    return caller


async def test_a_token_dies_with_its_key_when_it_is_disabled_or_deleted(engine):
    identities = await _booted(engine)
    caller = await signed_in(identities, "dev")
    disabled, token_a = await identities.create_token(caller, 600)
    assert disabled["AccessKeyId"] == caller.key_id and disabled["Principal"] == "dev"
    resolved = await identities.caller_for_token(token_a)
    assert resolved is not None and (resolved.name, resolved.token_id) == ("dev", disabled["TokenId"])

    await identities.set_key_enabled(caller.key_id, False)
    assert await identities.caller_for_token(token_a) is None  # the cached caller went too
    await identities.set_key_enabled(caller.key_id, True)
    assert await identities.caller_for_token(token_a) is None  # revoked for good, not suspended
    assert await identities.list_tokens("dev") == []

    _, token_b = await identities.create_token(caller, 600)
    assert await identities.caller_for_token(token_b) is not None
    await identities.delete_key(caller.key_id)
    assert await identities.caller_for_token(token_b) is None
    # A key disabled or deleted after its caller was cached cannot mint another token.
    with pytest.raises(ResourceNotFound):
        await identities.create_token(caller, 600)


async def test_a_token_is_refused_once_its_key_is_disabled_on_another_node(engine):
    """Another node's change reaches this one through SQL: the join on the key decides, not the cache."""
    here, there = await _booted(engine), service(engine)
    caller = await signed_in(here, "dev")
    _, token = await here.create_token(caller, 600)
    # Not through `there`: what another node wrote, with this node's caches cold.
    async with engine.begin() as conn:
        await conn.execute(update(access_keys).where(access_keys.c.key_id == caller.key_id).values(enabled=False))
    assert await there.caller_for_token(token) is None


async def test_tokens_are_listed_and_revoked(engine):
    identities = await _booted(engine)
    dev, ops = await signed_in(identities, "dev"), await signed_in(identities, "ops")
    first, token_1 = await identities.create_token(dev, 600)
    second, token_2 = await identities.create_token(dev, 900)
    await identities.create_token(ops, 600)
    listed = await identities.list_tokens("dev")
    assert [t["TokenId"] for t in listed] == [first["TokenId"], second["TokenId"]]
    assert all(set(t) == {"TokenId", "Principal", "AccessKeyId", "CreatedAt", "Expiration"} for t in listed)
    assert token_1 not in str(listed) and token_2 not in str(listed)
    assert await identities.token_owner(first["TokenId"]) == "dev"
    assert await identities.token_owner("tok-0000000000000000") is None

    assert await identities.caller_for_token(token_1) is not None
    await identities.revoke_token(first["TokenId"])
    assert await identities.caller_for_token(token_1) is None
    assert await identities.caller_for_token(token_2) is not None
    assert [t["TokenId"] for t in await identities.list_tokens("dev")] == [second["TokenId"]]
    for unknown in (first["TokenId"], "tok-ffffffffffffffff", "../keys"):
        with pytest.raises(ResourceNotFound):
            await identities.revoke_token(unknown)
    with pytest.raises(ResourceNotFound):
        await identities.list_tokens("nobody")


async def test_the_token_lifetime_cap(engine):
    identities = await _booted(engine, token_max_ttl_s=3600)
    caller = await signed_in(identities, "dev")
    for ttl in (3601, 7 * 86400, 59, 0, -1, True, "600", 60.5):
        with pytest.raises(InvalidParameterValue, match="between 60 and 3600"):
            await identities.create_token(caller, ttl)
    assert await identities.list_tokens("dev") == []
    described, token = await identities.create_token(caller, 3600)
    expires = dt.datetime.fromisoformat(described["Expiration"]) - dt.datetime.fromisoformat(described["CreatedAt"])
    assert expires == dt.timedelta(hours=1)

    # A token minted under a longer cap lives no longer than the cap in force.
    long_lived = service(engine, token_max_ttl_s=7 * 86400)
    _, long_token = await long_lived.create_token(caller, 7 * 86400)
    resolved = await identities.caller_for_token(long_token)
    assert resolved is not None and resolved.expires_at is not None
    assert resolved.expires_at - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(hours=1)
    # ...and once that is over, it is refused (its row says it has days left).
    async with engine.begin() as conn:
        await conn.execute(update(tokens).values(created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
    assert await service(engine, token_max_ttl_s=3600).caller_for_token(long_token) is None
    assert await long_lived.caller_for_token(token) is not None


async def test_sessions_and_tokens_cannot_mint_tokens(engine):
    identities = await _booted(engine)
    caller = await signed_in(identities, "dev")
    with pytest.raises(InvalidParameterValue, match="bearer token cannot create another"):
        await identities.create_token(dataclasses.replace(caller, via_token=True), 600)
    session = dataclasses.replace(caller, kind="session")
    with pytest.raises(InvalidParameterValue, match="Role sessions"):
        await identities.create_token(session, 600)


async def test_roles_resolve_from_their_exact_arn(engine):
    identities = await _booted(engine)
    for name in ("app-x", "platform-admin"):
        await identities.create_role({"Name": name})
    assert await identities.resolve_role_arn(f"arn:aws:iam::{ACCOUNT}:role/app-x") == \
        f"arn:aws:iam::{ACCOUNT}:role/app-x"
    for arn in (f"arn:aws:iam::{ACCOUNT}:role/app-x/platform-admin",  # a path: names no existing role
                f"arn:aws:iam::{ACCOUNT}:role/anything/app-x",
                f"arn:aws:iam::{ACCOUNT}:role//platform-admin",
                f"arn:aws:iam::{ACCOUNT}:role/missing",
                "arn:aws:iam::999999999999:role/app-x",
                f"arn:aws-cn:iam::{ACCOUNT}:role/app-x",
                f"arn:aws:iam::{ACCOUNT}:role/App-X",
                "app-x", None, 7):
        with pytest.raises(InvalidParameterValue, match="cannot be assumed"):
            await identities.resolve_role_arn(arn)


async def test_a_stored_role_arn_with_a_path_runs_as_the_default_role(engine):
    """A function saved with `role/app-x/platform-admin` before exact resolution gets a session of the
    default role (allowed nothing), never of `platform-admin`."""
    identities = await _booted(engine)
    await identities.create_role({"Name": "platform-admin"})
    for arn, role in ((f"arn:aws:iam::{ACCOUNT}:role/app-x/platform-admin", "faas-default"),
                      (f"arn:aws:iam::{ACCOUNT}:role/platform-admin", "platform-admin")):
        credentials = await identities.issue_session(arn, "fn", 600)
        caller = await identities.caller_for_key(credentials["AWS_ACCESS_KEY_ID"])
        assert caller is not None and caller.name == role, arn


async def test_names_are_ascii_and_unique_regardless_of_case(engine):
    identities = await _booted(engine)
    for name in ("\u0430dmin", "adm\u0131n", "ｄｅｖ", "dev\u200b", "caf\u00e9", "a" * 65, "", "a/b"):
        with pytest.raises(InvalidParameterValue, match="ASCII letters"):
            await identities.create_principal({"Name": name})
        with pytest.raises(InvalidParameterValue, match="ASCII letters"):
            await identities.create_role({"Name": name})
    with pytest.raises(InvalidParameterValue, match="look-alike"):
        await identities.create_principal({"Name": "\u0430dmin"})
    with pytest.raises(InvalidParameterValue, match="1-128 ASCII"):
        await identities.put_policy("principal", "admin", "p\u043eliсy", {"Statement": []})
    with pytest.raises(ResourceConflict, match="admin"):
        await identities.create_principal({"Name": "Admin"})
    with pytest.raises(ResourceConflict, match="faas-default"):
        await identities.create_role({"Name": "FAAS-Default"})
    names = [p["Name"] for p in await identities.list_principals()]
    assert names == ["admin"]
    assert (await identities.create_principal({"Name": "a.b+c=d,e@f_g-h"}))["Name"] == "a.b+c=d,e@f_g-h"


async def _booted(engine: AsyncEngine, token_max_ttl_s: int = 7 * 86400) -> IdentityService:
    identities = service(engine, token_max_ttl_s)
    await identities.bootstrap()
    return identities


async def test_a_revoked_session_is_refused_at_once_though_its_caller_was_cached(engine):
    identities = await _booted(engine)
    credentials = await identities.issue_session(f"arn:aws:iam::{ACCOUNT}:role/faas-default", "fn", 600)
    key_id = credentials["AWS_ACCESS_KEY_ID"]
    caller = await identities.caller_for_key(key_id)  # now cached for a few seconds
    assert caller is not None and caller.kind == "session"
    await identities.revoke_session(key_id)
    assert await identities.caller_for_key(key_id) is None
