"""The platform's REST API as methods of `Client`: Lambda's functions, invocations, URLs and function
policies, and the native logs, principals, keys, tokens, roles, inline policies and audit log."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from faas.client.transport import ClientError, Transport, pages, quote_segment

URL_PREFIX = "/2021-10-31"
LAMBDA_PREFIX = "/2015-03-31"
CONCURRENCY_PREFIX = "/2017-10-31"
TAGS_PREFIX = "/2017-03-31"
NATIVE_PREFIX = "/faas/v1"
INVOKE_TIMEOUT_S = 960.0  # a function may run for 900 s


@dataclasses.dataclass(frozen=True)
class InvokeResult:
    status: int
    function_error: str | None  # X-Amz-Function-Error, e.g. "Unhandled"
    log_tail: str | None  # decoded X-Amz-Log-Result
    payload: bytes
    executed_version: str | None
    request_id: str | None


def _json_field(result: Mapping[str, Any], field: str) -> dict[str, Any]:
    """Lambda returns policies as JSON inside a JSON string field."""
    try:
        value = json.loads(result.get(field) or "")
    except (TypeError, ValueError) as exc:
        raise ClientError("InvalidResponse", f"the platform's {field} is not a JSON document", 200) from exc
    if not isinstance(value, dict):
        raise ClientError("InvalidResponse", f"the platform's {field} is not a JSON object", 200)
    return value


class Client(Transport):
    """The faas API over a signed transport; build one with Client.from_settings or from_environment."""

    # -- Lambda API --

    @staticmethod
    def _configuration(runtime: str | None = None, handler: str | None = None, role: str | None = None,
                       memory_size: int | None = None, timeout: int | None = None,
                       environment: Mapping[str, str] | None = None,
                       description: str | None = None,
                       logging_config: Mapping[str, str] | None = None) -> dict[str, Any]:
        fields = {"Runtime": runtime, "Handler": handler, "Role": role, "MemorySize": memory_size,
                  "Timeout": timeout, "Description": description, "LoggingConfig": logging_config,
                  "Environment": None if environment is None else {"Variables": dict(environment)}}
        return {key: value for key, value in fields.items() if value is not None}

    def create_function(self, name: str, *, runtime: str, handler: str, role: str, zip_file: bytes,
                        memory_size: int | None = None, timeout: int | None = None,
                        environment: Mapping[str, str] | None = None,
                        description: str | None = None, tags: Mapping[str, str] | None = None,
                        logging_config: Mapping[str, str] | None = None) -> dict[str, Any]:
        """CreateFunction; returns the FunctionConfiguration."""
        payload = {"FunctionName": name, **self._configuration(runtime, handler, role, memory_size, timeout,
                                                              environment, description, logging_config),
                   "Code": {"ZipFile": base64.b64encode(zip_file).decode("ascii")}}
        if tags:
            payload["Tags"] = dict(tags)
        return self._json("POST", f"{LAMBDA_PREFIX}/functions", payload)

    def update_function_code(self, name: str, zip_file: bytes) -> dict[str, Any]:
        payload = {"ZipFile": base64.b64encode(zip_file).decode("ascii")}
        return self._json("PUT", f"{LAMBDA_PREFIX}/functions/{quote_segment(name)}/code", payload)

    def update_function_configuration(self, name: str, **configuration: Any) -> dict[str, Any]:
        """UpdateFunctionConfiguration with only the given fields (runtime, handler, role, memory_size,
        timeout, environment, description, logging_config)."""
        return self._json("PUT", f"{LAMBDA_PREFIX}/functions/{quote_segment(name)}/configuration",
                          self._configuration(**configuration))

    def get_function(self, name: str) -> dict[str, Any]:
        """GetFunction: {"Configuration": ..., "Code": ...}."""
        return self._json("GET", f"{LAMBDA_PREFIX}/functions/{quote_segment(name)}")

    def list_functions(self) -> list[dict[str, Any]]:
        """Every FunctionConfiguration, following Marker/NextMarker."""
        return pages(lambda marker: self._json("GET", f"{LAMBDA_PREFIX}/functions", query={"Marker": marker}),
                     "Functions", "NextMarker")

    def delete_function(self, name: str) -> None:
        self.request("DELETE", f"{LAMBDA_PREFIX}/functions/{quote_segment(name)}")

    def list_tags(self, arn: str) -> dict[str, str]:
        """ListTags of a function, by its unqualified ARN."""
        return self._json("GET", f"{TAGS_PREFIX}/tags/{quote_segment(arn)}").get("Tags") or {}

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        self.request("POST", f"{TAGS_PREFIX}/tags/{quote_segment(arn)}",
                     body=json.dumps({"Tags": dict(tags)}).encode("utf-8"), headers={"Content-Type": "application/json"})

    def untag(self, arn: str, keys: list[str]) -> None:
        for key in keys:  # one key a request: the query string here holds each parameter once
            self.request("DELETE", f"{TAGS_PREFIX}/tags/{quote_segment(arn)}", query={"tagKeys": key})

    def invoke(self, name: str, payload: bytes = b"", *, log_tail: bool = False,
               qualifier: str | None = None) -> InvokeResult:
        """A RequestResponse invocation. A function error is not raised: see `function_error`."""
        headers = {"X-Amz-Invocation-Type": "RequestResponse"}
        if log_tail:
            headers["X-Amz-Log-Type"] = "Tail"
        response = self.request("POST", f"{LAMBDA_PREFIX}/functions/{quote_segment(name)}/invocations",
                                query={"Qualifier": qualifier}, body=payload, headers=headers,
                                timeout=INVOKE_TIMEOUT_S)
        log_result = response.headers.get("x-amz-log-result")
        log = None
        if log_result:
            try:
                log = base64.b64decode(log_result).decode("utf-8", "replace")
            except ValueError:
                log = f"(undecodable log tail: {log_result[:80]!r})"
        return InvokeResult(
            status=response.status,
            function_error=response.headers.get("x-amz-function-error"),
            log_tail=log,
            payload=response.body,
            executed_version=response.headers.get("x-amz-executed-version"),
            request_id=response.headers.get("x-amzn-requestid"),
        )

    def invoke_async(self, name: str, payload: bytes = b"") -> str:
        """An Event invocation: queued durably by the platform; returns its request id."""
        response = self.request("POST", f"{LAMBDA_PREFIX}/functions/{quote_segment(name)}/invocations", body=payload,
                                headers={"X-Amz-Invocation-Type": "Event"})
        return response.headers.get("x-amzn-requestid") or ""

    def create_url(self, name: str, auth_type: str, cors: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"AuthType": auth_type}
        if cors:
            body["Cors"] = dict(cors)
        return self._json("POST", f"{URL_PREFIX}/functions/{quote_segment(name)}/url", body)

    def get_url(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"{URL_PREFIX}/functions/{quote_segment(name)}/url")

    def delete_url(self, name: str) -> None:
        self.request("DELETE", f"{URL_PREFIX}/functions/{quote_segment(name)}/url")

    def update_url(self, name: str, auth_type: str, cors: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"AuthType": auth_type, "Cors": dict(cors or {})}
        return self._json("PUT", f"{URL_PREFIX}/functions/{quote_segment(name)}/url", body)

    def put_concurrency(self, name: str, reserved: int) -> None:
        """PutFunctionConcurrency: reserve `reserved` of the node's concurrency for the function."""
        self._json("PUT", f"{CONCURRENCY_PREFIX}/functions/{quote_segment(name)}/concurrency",
                   {"ReservedConcurrentExecutions": reserved})

    def delete_concurrency(self, name: str) -> None:
        self.request("DELETE", f"{CONCURRENCY_PREFIX}/functions/{quote_segment(name)}/concurrency")

    # -- native API --

    def logs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest `limit` invocation records, oldest first: RequestId, Start, DurationMs,
        BilledDurationMs, Outcome, Cold, Log."""
        page = self._json("GET", f"{NATIVE_PREFIX}/functions/{quote_segment(name)}/logs", query={"limit": limit})
        return list(page.get("Invocations") or [])

    def async_events(self, name: str, state: str = "all", limit: int = 100) -> list[dict[str, Any]]:
        """A function's asynchronous invocations in `state` (pending, failed or all), pending and running ones
        first: RequestId, State, Attempts, NextAttemptAt, LastError, EnqueuedAt, PayloadBytes, FailedAt,
        Reason, SentTo."""
        page = self._json("GET", f"{NATIVE_PREFIX}/functions/{quote_segment(name)}/events",
                          query={"state": state, "limit": limit})
        return list(page.get("Events") or [])

    def environments(self, function: str) -> list[dict[str, Any]]:
        """This node's environments of a function: ContainerId, RevisionId, State (busy, idle, starting), ..."""
        return list(self._json("GET", f"{NATIVE_PREFIX}/environments", query={"function": function})
                    .get("Environments") or [])

    def metrics(self) -> str:
        """GET /metrics: the node's metrics in the Prometheus text format."""
        return self.request("GET", "/metrics").body.decode()

    def usage(self, month: str | None = None, by: str = "function", function: str | None = None) -> dict[str, Any]:
        """A month's usage and its price: see faas.services.usage for the shape."""
        return dict(self._json("GET", f"{NATIVE_PREFIX}/usage", query={"month": month, "by": by, "function": function}))

    def list_budgets(self) -> list[dict[str, Any]]:
        """Owner, GBSeconds, Cost (the limits), Month, SpentGBSeconds, SpentCost."""
        return list(self._json("GET", f"{NATIVE_PREFIX}/budgets").get("Budgets") or [])

    def put_budget(self, owner: str, gb_seconds: float | None = None, cost: float | None = None) -> dict[str, Any]:
        payload = {"Owner": owner, "GBSeconds": gb_seconds, "Cost": cost}
        return dict(self._json("PUT", f"{NATIVE_PREFIX}/budgets", {k: v for k, v in payload.items() if v is not None}))

    def delete_budget(self, owner: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/budgets", query={"owner": owner})

    # -- identities: principals, access keys, bearer tokens, roles, inline policies, audit --

    def create_principal(self, name: str, kind: str = "user") -> dict[str, Any]:
        """{"Name", "Kind", "Arn", "CreatedAt"}."""
        return self._json("POST", f"{NATIVE_PREFIX}/principals", {"Name": name, "Kind": kind})

    def list_principals(self) -> list[dict[str, Any]]:
        return list(self._json("GET", f"{NATIVE_PREFIX}/principals").get("Principals") or [])

    def delete_principal(self, name: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/principals/{quote_segment(name)}")

    def create_access_key(self, principal: str) -> dict[str, Any]:
        """{"AccessKeyId", "SecretAccessKey", "Principal"}: the only time the secret is shown."""
        return self._json("POST", f"{NATIVE_PREFIX}/principals/{quote_segment(principal)}/keys", {})

    def list_access_keys(self, principal: str | None = None) -> list[dict[str, Any]]:
        """{"AccessKeyId", "Principal", "Status": "Active"|"Inactive", "CreatedAt"} for each key."""
        page = self._json("GET", f"{NATIVE_PREFIX}/keys", query={"principal": principal})
        return list(page.get("AccessKeys") or [])

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> None:
        self._json("PATCH", f"{NATIVE_PREFIX}/keys/{quote_segment(key_id)}", {"Enabled": enabled})

    def delete_access_key(self, key_id: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/keys/{quote_segment(key_id)}")

    def create_token(self, ttl_s: int = 3600) -> dict[str, Any]:
        """A bearer token for the caller, bound to the signing access key: {"Token", "TokenId", "Principal",
        "AccessKeyId", "CreatedAt", "Expiration"}; the only time the token is shown."""
        return self._json("POST", f"{NATIVE_PREFIX}/tokens", {"TtlSeconds": ttl_s})

    def list_tokens(self, principal: str | None = None) -> list[dict[str, Any]]:
        """The live tokens of a principal (default: the caller), never the tokens themselves."""
        return list(self._json("GET", f"{NATIVE_PREFIX}/tokens", query={"principal": principal}).get("Tokens") or [])

    def revoke_token(self, token_id: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/tokens/{quote_segment(token_id)}")

    def create_role(self, name: str, description: str = "") -> dict[str, Any]:
        """{"Name", "Arn", "Description", "CreatedAt"}."""
        return self._json("POST", f"{NATIVE_PREFIX}/roles", {"Name": name, "Description": description})

    def list_roles(self) -> list[dict[str, Any]]:
        return list(self._json("GET", f"{NATIVE_PREFIX}/roles").get("Roles") or [])

    def delete_role(self, name: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/roles/{quote_segment(name)}")

    @staticmethod
    def _owner_path(owner_kind: str, owner: str) -> str:
        if owner_kind not in ("principal", "role"):
            raise ValueError(f"owner_kind must be principal or role, not {owner_kind!r}")
        return f"{NATIVE_PREFIX}/{owner_kind}s/{quote_segment(owner)}/policies"

    def put_policy(self, owner_kind: str, owner: str, policy_name: str, document: Any) -> dict[str, Any]:
        """Create or replace an inline policy of a principal or a role; returns the stored document."""
        return self._json("PUT", f"{self._owner_path(owner_kind, owner)}/{quote_segment(policy_name)}",
                          {"PolicyDocument": document})

    def list_policies(self, owner_kind: str, owner: str) -> dict[str, Any]:
        """The inline policies of a principal or a role, by name."""
        return dict(self._json("GET", self._owner_path(owner_kind, owner)).get("Policies") or {})

    def delete_policy(self, owner_kind: str, owner: str, policy_name: str) -> None:
        self.request("DELETE", f"{self._owner_path(owner_kind, owner)}/{quote_segment(policy_name)}")

    def audit_log(self, *, principal: str | None = None, action: str | None = None, since: str | None = None,
                  limit: int | None = None) -> list[dict[str, Any]]:
        """The latest audit entries, newest first: Time, Principal (an ARN), Action, Resource, Status,
        Outcome, RequestId, SourceIp."""
        page = self._json("GET", f"{NATIVE_PREFIX}/audit",
                          query={"principal": principal, "action": action, "since": since, "limit": limit})
        return list(page.get("Entries") or [])

    # -- function policies (Lambda's AddPermission, RemovePermission, GetPolicy) --

    def add_permission(self, function: str, *, statement_id: str, action: str, principal: str,
                       source_arn: str | None = None, function_url_auth_type: str | None = None,
                       invoked_via_function_url: bool | None = None) -> dict[str, Any]:
        """AddPermission; returns the statement added."""
        payload = {"StatementId": statement_id, "Action": action, "Principal": principal,
                   "SourceArn": source_arn, "FunctionUrlAuthType": function_url_auth_type,
                   "InvokedViaFunctionUrl": invoked_via_function_url}
        result = self._json("POST", f"{LAMBDA_PREFIX}/functions/{quote_segment(function)}/policy",
                            {k: v for k, v in payload.items() if v is not None})
        return _json_field(result, "Statement")

    def remove_permission(self, function: str, statement_id: str) -> None:
        self.request("DELETE",
                     f"{LAMBDA_PREFIX}/functions/{quote_segment(function)}/policy/{quote_segment(statement_id)}")

    def get_policy(self, function: str) -> dict[str, Any]:
        """GetPolicy; returns the function's policy document."""
        policy = self._json("GET", f"{LAMBDA_PREFIX}/functions/{quote_segment(function)}/policy")
        return _json_field(policy, "Policy")
