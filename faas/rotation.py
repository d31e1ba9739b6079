"""`faas keys rotate`: a new master key, every sealed secret re-wrapped under it, the old key retired,
while servers keep running.

The order is what makes it safe without downtime:
1. the new key is appended to the key file; running servers notice the file changed within
   MasterKey.recheck_interval_s and from then on seal new secrets with it (and open values sealed
   with it at once, re-reading the file when they meet an id they do not know);
2. after that interval, every sealed value still under an old key is re-wrapped: access-key and
   session secrets, each function's data key, the canary;
3. once a scan finds nothing under an old key, the old keys are dropped from the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faas.errors import ConfigError, StartupError
from faas.security import envelope
from faas.security.masterkey import MasterKey
from faas.services import topic_signing
from faas.settings import Settings
from faas.store.db import create_engine, migrate, scrub
from faas.store.functions import FunctionStore
from faas.store.identities import IdentityStore
from faas.store.meta import CANARY, MetaStore

MAX_PASSES = 5


async def rotate_master_key(settings: Settings, progress: Callable[[str], None]) -> str:
    if settings.master_key:
        raise ConfigError("the master key comes from FAAS_MASTER_KEY: put the new key in front of the old one "
                          "there ('new-id:base64,old-id:base64'), restart, then re-run with a key file")
    path = settings.master_key_path
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        master = MasterKey.load_or_create(path, create=False)
        meta = MetaStore(engine)
        canary = await meta.get(CANARY)
        if canary is None:
            raise StartupError(f"{settings.data_dir} holds no faas store yet: start `faas serve` once first")
        master.open(canary, CANARY)  # the key file belongs to this store

        new_id = MasterKey.rotate(path)
        master.reload()
        progress(f"added master key {new_id}; waiting for running servers to pick it up")
        await asyncio.sleep(MasterKey.recheck_interval_s + 1)

        functions, identities = FunctionStore(engine), IdentityStore(engine)

        def reseal(context_of: Callable[[str], str]) -> Callable[[bytes, str], bytes]:
            return lambda sealed, owner: envelope.rewrap(master, sealed, context_of(owner))

        for _ in range(MAX_PASSES):
            secrets_count = await identities.reseal_keys(reseal(lambda key_id: key_id))
            keys_count = await functions.reseal_data_keys(reseal(settings.function_arn))
            canary = await meta.get(CANARY)
            assert canary is not None
            await meta.put(CANARY, envelope.rewrap(master, canary, CANARY))
            signing_key = await meta.get(topic_signing.KEY)
            if signing_key is not None:  # SNS's message signing key
                await meta.put(topic_signing.KEY, envelope.rewrap(master, signing_key, topic_signing.KEY))
            progress(f"re-wrapped {secrets_count} access-key and session secrets and {keys_count} function data keys")
            if not await _still_old(master, identities, functions, meta):
                break
            progress("values sealed meanwhile with the old key remain; another pass")
        else:
            raise StartupError("values sealed with the old key keep appearing; the old key was kept")
        await scrub(engine)  # the old wrappings leave no copy in SQLite's free pages
        retired = MasterKey.retire_old(path, keep=1)
        progress(f"retired master keys: {', '.join(retired) or 'none'}")
        return new_id
    finally:
        await engine.dispose()


async def _still_old(master: MasterKey, identities: IdentityStore, functions: FunctionStore, meta: MetaStore) -> bool:
    sealed: list[bytes] = [k.secret for k in await identities.keys()]
    sealed += [fn.data_key for fn in await functions.list(None, 1_000_000) if fn.data_key]
    sealed += [v for v in [await meta.get(CANARY), await meta.get(topic_signing.KEY)] if v]
    sealed += await identities.session_secrets()
    return any(master.needs_rewrap(value) for value in sealed)
