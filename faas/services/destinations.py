"""Whether a function's execution role may send its asynchronous results to a destination: Lambda
delivers destination records with the function's role, so the role's rights decide, both when a
destination is configured and again at every delivery."""

from __future__ import annotations

from faas.security import policy
from faas.services.identities import IdentityService
from faas.services.permissions import PermissionService

INVOKE = "lambda:InvokeFunction"


class DestinationPermissions:
    """Pure policy evaluation over cached documents: the role's own policies and the destination's
    function policy, combined as for any caller (an explicit Deny wins, then an Allow in either)."""

    def __init__(self, identities: IdentityService, permissions: PermissionService, function_arn) -> None:  # type: ignore[no-untyped-def]
        self._identities = identities
        self._permissions = permissions
        self._function_arn = function_arn

    async def may_invoke(self, role_arn: str, source_function: str, destination_function: str) -> bool:
        """May `source_function`, running as `role_arn`, invoke `destination_function`?"""
        documents = await self._identities.role_documents(role_arn)
        if documents is None:
            return False  # not a role of this account: it is allowed nothing
        resource = self._function_arn(destination_function)
        identity = policy.evaluate(documents, INVOKE, resource)
        if identity == policy.DENY:
            return False
        resource_decision = policy.NO_MATCH
        statements = await self._permissions.statements(destination_function)
        if statements:
            # The caller is the source function's role session, which statements naming the role cover.
            session = self._identities.session_arn(role_arn.rsplit("/", 1)[1], source_function)
            resource_decision = policy.evaluate_resource_policy(statements, principal=session, action=INVOKE,
                                                                resource=resource)
        return policy.is_allowed(identity, resource_decision)
