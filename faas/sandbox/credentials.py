"""Execution-role credentials per environment: issued when an environment is bound to its function,
renewed by retiring the environment at half their life, revoked when it stops."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from faas.model import Function
from faas.sandbox.environment import Environment
from faas.sandbox.tasks import Tasks

# (function) -> (AWS_* credential variables for its role, the session's key id to revoke later)
IssueCredentials = Callable[[Function], Awaitable[tuple[dict[str, str], str]]]
RevokeCredentials = Callable[[str], Awaitable[None]]


class Credentials:
    """Without `issue` (a node serving no roles, or a test) environments get no credentials at all."""

    def __init__(self, issue: IssueCredentials | None = None, revoke: RevokeCredentials | None = None,
                 ttl_s: float = 3600) -> None:
        self._issue = issue
        self._revoke = revoke
        self.ttl_s = ttl_s
        self._tasks = Tasks()

    @property
    def enabled(self) -> bool:
        return self._issue is not None

    async def issue(self, fn: Function) -> tuple[dict[str, str], str]:
        """The AWS_* variables of a new session for `fn`'s role, and the session's key id."""
        assert self._issue is not None
        return await self._issue(fn)

    def hold(self, env: Environment, session_key: str | None) -> None:
        env.session_key = session_key
        if session_key is not None:
            # Retired (at its next release) while its credentials still have half their life left.
            env.retire_at = time.monotonic() + self.ttl_s / 2

    async def revoke(self, session_key: str | None) -> None:
        """Revoke a session that never reached an environment (its start failed)."""
        if session_key is not None and self._revoke is not None:
            await self._revoke(session_key)

    def drop(self, env: Environment) -> None:
        """A stopped environment's credentials stop working (revoked in the background)."""
        if env.session_key is not None and self._revoke is not None:
            self._tasks.spawn(self._revoke(env.session_key))
        env.session_key = None

    async def close(self, sessions: Iterable[str]) -> None:
        """The node is stopping: revoke `sessions` (those its environments held) and wait for it, before
        the store closes. Revocations still running in the background are cancelled."""
        await self._tasks.close()
        for session in sessions:
            await self.revoke(session)
