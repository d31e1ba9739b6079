"""faas.services.console_sessions over the real SQL store (SQLite and PostgreSQL): a session opened with a
principal's access key, kept only as a hash, ending at its expiry, at sign-out, with its key, and pruned."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os

import pytest
from sqlalchemy import select, update

from faas.model import utcnow
from faas.security.masterkey import MasterKey
from faas.services.console_sessions import ConsoleSessions, SignInRefused, session_hash
from faas.services.identities import IdentityService
from faas.store.console_sessions import ConsoleSessionStore
from faas.store.identities import IdentityStore
from faas.store.tables import console_sessions


async def _setup(engine):  # type: ignore[no-untyped-def]
    master = MasterKey.from_setting(base64.b64encode(os.urandom(32)).decode())
    identities = IdentityService(IdentityStore(engine), master, "123456789012", "node-1")
    await identities.bootstrap()
    await identities.create_principal({"Name": "dev"})
    key_id, secret = await identities.create_key("dev")
    return identities, ConsoleSessions(ConsoleSessionStore(engine), identities, ttl_s=3600), key_id, secret


async def test_a_session_is_opened_with_a_key_and_stored_only_as_its_hash(engine):
    identities, sessions, key_id, secret = await _setup(engine)
    for wrong in ((key_id, "not-the-secret"), ("AKIAUNKNOWN0000000000", secret), ("", ""), ("AKIA' OR 1=1", secret)):
        with pytest.raises(SignInRefused):
            await sessions.sign_in(*wrong)
    session_id = await sessions.sign_in(key_id, secret)
    caller = await sessions.caller(session_id)
    assert caller is not None and caller.name == "dev" and caller.arn.endswith(":user/dev")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(console_sessions))).all()
    assert [row.session_hash for row in rows] == [session_hash(session_id)]
    assert session_id not in repr([tuple(row) for row in rows])
    assert rows[0].expires_at.replace(tzinfo=dt.timezone.utc) - utcnow() > dt.timedelta(minutes=59)
    assert await sessions.caller("forged") is None and await sessions.caller("") is None


async def test_a_session_ends_at_expiry_at_sign_out_and_with_its_key(engine):
    identities, sessions, key_id, secret = await _setup(engine)
    expiring, signed_out, keyed = [await sessions.sign_in(key_id, secret) for _ in range(3)]
    async with engine.begin() as conn:
        await conn.execute(update(console_sessions).where(console_sessions.c.session_hash == session_hash(expiring))
                           .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert await sessions.caller(expiring) is None
    await sessions.sign_out(signed_out)
    assert await sessions.caller(signed_out) is None
    assert await sessions.caller(keyed) is not None
    await identities.set_key_enabled(key_id, False)
    assert await sessions.caller(keyed) is None
    await identities.delete_key(key_id)  # and its sessions' rows go with it
    async with engine.connect() as conn:
        assert (await conn.execute(select(console_sessions))).all() == []


async def test_only_a_principals_own_keys_open_a_session(engine):
    identities, sessions, key_id, secret = await _setup(engine)
    role_session = await identities.issue_session(identities.role_arn("faas-default"), "fn", 600)
    with pytest.raises(SignInRefused):
        await sessions.sign_in(role_session["AWS_ACCESS_KEY_ID"], role_session["AWS_SECRET_ACCESS_KEY"])


async def test_expired_sessions_are_pruned(engine):
    _, sessions, key_id, secret = await _setup(engine)
    old, fresh = await sessions.sign_in(key_id, secret), await sessions.sign_in(key_id, secret)
    store = ConsoleSessionStore(engine)
    async with engine.begin() as conn:
        await conn.execute(update(console_sessions).where(console_sessions.c.session_hash == session_hash(old))
                           .values(expires_at=utcnow() - dt.timedelta(days=2)))
    assert await store.prune_before(utcnow() - dt.timedelta(days=1), 100) == 1
    assert await store.get(session_hash(old)) is None
    found = await store.get(session_hash(fresh))
    assert found is not None and dataclasses.asdict(found)["principal"] == "dev"
