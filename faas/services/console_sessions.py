"""Console sessions: an access key exchanged for a random session id (the web console's cookie), kept
in SQL only as its SHA-256, ending at its expiry, at sign-out, or when its access key is disabled or deleted;
and the CSRF token each session's forms carry, derived from the session id so nothing more needs storing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from faas.model import utcnow
from faas.services.identities import Caller, IdentityService
from faas.store.console_sessions import ConsoleSession, ConsoleSessionStore

COOKIE = "faas_console"
SIGN_IN_COOKIE = "faas_console_sign_in"  # the sign-in form's CSRF token, before there is a session


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The token every form of this session carries: a forged cross-site post cannot know it."""
    return hmac.new(session_id.encode(), b"faas console csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, sent: str) -> bool:
    return hmac.compare_digest(csrf_token(session_id), sent)


class SignInRefused(Exception):
    """The access key id or secret is wrong, or the key is disabled."""


class ConsoleSessions:
    def __init__(self, store: ConsoleSessionStore, identities: IdentityService, ttl_s: int) -> None:
        self._store = store
        self._identities = identities
        self.ttl_s = ttl_s

    async def sign_in(self, key_id: str, secret: str) -> str:
        """A new session id for a principal's access key and secret; SignInRefused otherwise (the same
        refusal for an unknown key and a wrong secret, so the form tells no one which keys exist)."""
        caller = await self._identities.caller_for_key(key_id) if key_id.isascii() and key_id.isalnum() else None
        # Only a principal's own keys: an execution role's temporary credentials are for its function.
        if caller is None or caller.kind == "session" or caller.secret is None \
                or not hmac.compare_digest(caller.secret.encode(), secret.encode()):
            raise SignInRefused()
        session_id = secrets.token_urlsafe(32)
        now = utcnow()
        await self._store.add(ConsoleSession(session_hash=session_hash(session_id), principal=caller.name,
                                             key_id=key_id, expires_at=now + dt.timedelta(seconds=self.ttl_s),
                                             created_at=now))
        return session_id

    async def caller(self, session_id: str) -> Caller | None:
        """The principal a session acts as, or None: unknown (forged), expired, or its key no longer works."""
        if not session_id or len(session_id) > 100:
            return None
        session = await self._store.get(session_hash(session_id))
        if session is None or session.expires_at <= utcnow():
            return None
        caller = await self._identities.caller_for_key(session.key_id)
        return caller if caller is not None and caller.name == session.principal else None

    async def sign_out(self, session_id: str) -> None:
        await self._store.remove(session_hash(session_id))
