"""Function policies: who may invoke a function besides those their own policies allow (AddPermission)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.services.cache import TtlCache
from faas.security import policy
from faas.store.permissions import PermissionStore

MAX_POLICY_BYTES = 20 * 1024  # Lambda's resource policy limit


class PermissionService:
    def __init__(self, store: PermissionStore, function_arn) -> None:  # type: ignore[no-untyped-def]
        self._store = store
        self._function_arn = function_arn
        self._cache: TtlCache[tuple[dict, ...]] = TtlCache()
        self._revisions: dict[str, str] = {}

    async def statements(self, name: str) -> tuple[dict, ...]:
        """The function's policy statements (cached a few seconds: read on every invocation by another principal)."""
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache.put(name, tuple(json.loads(s) for s in await self._store.statements(name)))
        return cached

    async def add(self, name: str, params: dict[str, Any]) -> dict:
        for required in ("StatementId", "Action", "Principal"):
            if not isinstance(params.get(required), str):
                raise InvalidParameterValue(f"{required} is required")
        statement = policy.function_statement(
            sid=params["StatementId"], action=params["Action"], principal=params["Principal"],
            resource=self._function_arn(name), source_arn=params.get("SourceArn"),
            source_account=params.get("SourceAccount"),
            function_url_auth_type=params.get("FunctionUrlAuthType"),
            invoked_via_function_url=params.get("InvokedViaFunctionUrl"),
            principal_org_id=params.get("PrincipalOrgID"))
        current = await self.statements(name)
        if len(json.dumps([*current, statement])) > MAX_POLICY_BYTES:
            raise InvalidParameterValue("The final policy size is bigger than the limit (20 KB).")
        await self._store.add(name, statement["Sid"], json.dumps(statement))
        self._changed(name)
        return statement

    async def remove(self, name: str, sid: str) -> None:
        if not await self._store.statements(name):  # Lambda tells "no policy at all" from "no such statement"
            raise ResourceNotFound("No policy is associated with the given resource.")
        await self._store.remove(name, sid)
        self._changed(name)

    async def document(self, name: str) -> tuple[dict, str]:
        statements = await self.statements(name)
        if not statements:
            raise ResourceNotFound("The resource you requested does not exist.")
        revision = self._revisions.setdefault(name, str(uuid.uuid4()))
        return {"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}, revision

    def forget(self, name: str) -> None:
        """The function is gone (its rows went with it)."""
        self._changed(name)

    def _changed(self, name: str) -> None:
        self._cache.pop(name)
        self._revisions.pop(name, None)
