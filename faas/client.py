"""The faas CLI's HTTP client: finds the platform and credentials, signs requests, speaks the Lambda REST API."""

from __future__ import annotations

import base64
import configparser
import dataclasses
import http.client
import json
import os
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from faas import settings as settings_module
from faas.errors import ConfigError, FaasError
from faas.security import sigv4

SERVICE = "lambda"
URL_PREFIX = "/2021-10-31"
LAMBDA_PREFIX = "/2015-03-31"
NATIVE_PREFIX = "/faas/v1"
ENDPOINT_ENV = "FAAS_ENDPOINT_URL"
CREDENTIALS_FILE_ENV = "AWS_SHARED_CREDENTIALS_FILE"
CA_BUNDLE_ENV = "AWS_CA_BUNDLE"  # as the AWS CLI and SDKs read it
DEFAULT_PROFILE = "default"
PROGRESS_THRESHOLD = 1024 * 1024  # bodies above this are sent in chunks with progress
CHUNK_SIZE = 256 * 1024
REQUEST_TIMEOUT_S = 300.0
INVOKE_TIMEOUT_S = 960.0  # a function may run for 900 s
USER_AGENT = "faas-cli/0.1"

Progress = Callable[[int, int], None]  # (bytes sent, bytes in total)


class ClientError(FaasError):
    """The platform answered with an error in Lambda's format."""

    def __init__(self, code: str, message: str, status: int) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")


class EndpointUnreachable(FaasError):
    """No connection to the platform, or it went away before answering."""

    def __init__(self, endpoint: str, reason: str, source: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.source = source  # where the endpoint came from, for the hint
        super().__init__(f"cannot reach {endpoint}: {reason}")


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ClientError("InvalidResponse", f"the platform answered {self.status} with a body that is "
                              f"not JSON: {self.body[:200]!r}", self.status) from exc


@dataclasses.dataclass(frozen=True)
class InvokeResult:
    status: int
    function_error: str | None  # X-Amz-Function-Error, e.g. "Unhandled"
    log_tail: str | None  # decoded X-Amz-Log-Result
    payload: bytes
    executed_version: str | None
    request_id: str | None


# --- discovery ---------------------------------------------------------------------------------

def discover_endpoint(data_dir: Path, env: Mapping[str, str], explicit: str | None = None,
                      fallback: str | None = None) -> tuple[str, str]:
    """(endpoint URL, where it came from): the option, FAAS_ENDPOINT_URL, `<data-dir>/endpoint`, fallback."""
    if explicit:
        return explicit.rstrip("/"), "--endpoint-url"
    if env.get(ENDPOINT_ENV):
        return env[ENDPOINT_ENV].strip().rstrip("/"), ENDPOINT_ENV
    path = data_dir / "endpoint"
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if lines:
        return lines[0].rstrip("/"), str(path)
    if fallback:
        return fallback, f"FAAS_HOST/FAAS_PORT ({path} does not exist)"
    raise ConfigError(f"no endpoint: pass --endpoint-url, set {ENDPOINT_ENV} or start 'faas serve' "
                      f"(it writes {path})")


def default_endpoint(config: settings_module.Settings) -> str:
    """Where a server started with these settings listens, as a client on this machine reaches it."""
    host = config.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # a wildcard address is no place to connect to
    elif ":" in host:
        host = f"[{host}]"
    return f"{config.scheme}://{host}:{config.port}"


def tls_context(env: Mapping[str, str], explicit: str | None = None) -> ssl.SSLContext:
    """How HTTPS endpoints are verified: against the CA bundle given (the option, else AWS_CA_BUNDLE), which
    replaces the system's CAs as it does for the AWS CLI; else against the system's CAs."""
    path = explicit or env.get(CA_BUNDLE_ENV) or None
    try:
        return ssl.create_default_context(cafile=os.path.expanduser(path) if path else None)
    except (OSError, ssl.SSLError) as exc:
        source = "--ca-bundle" if explicit else CA_BUNDLE_ENV
        raise ConfigError(f"cannot read the CA bundle {path} ({source}): "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc


def read_shared_credentials(path: Path, profile: str) -> sigv4.Credentials | None:
    """A profile of an AWS shared-credentials file; None when the file does not exist."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"cannot read credentials from {path}: {exc}") from exc
    if not parser.has_section(profile):
        known = ", ".join(parser.sections()) or "none"
        raise ConfigError(f"profile {profile!r} is not in {path} (profiles: {known})")
    section = parser[profile]
    key_id = section.get("aws_access_key_id", "").strip()
    secret = section.get("aws_secret_access_key", "").strip()
    if not key_id or not secret:
        raise ConfigError(f"profile {profile!r} in {path} lacks aws_access_key_id or aws_secret_access_key")
    return sigv4.Credentials(key_id, secret, section.get("aws_session_token", "").strip() or None)


def credentials_file(data_dir: Path, env: Mapping[str, str]) -> Path:
    """The shared-credentials file the client reads: AWS_SHARED_CREDENTIALS_FILE, as the AWS SDKs
    do, else `<data-dir>/credentials`, which `faas serve` writes for the admin."""
    if env.get(CREDENTIALS_FILE_ENV):
        return Path(os.path.expanduser(env[CREDENTIALS_FILE_ENV]))
    return data_dir / "credentials"


def discover_credentials(data_dir: Path, env: Mapping[str, str], profile: str | None = None) -> sigv4.Credentials:
    """AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the credentials file; an explicit profile reads the file."""
    if profile is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return sigv4.Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                 env.get("AWS_SESSION_TOKEN") or None)
    path = credentials_file(data_dir, env)
    credentials = read_shared_credentials(path, profile or DEFAULT_PROFILE)
    if credentials is None:
        if env.get(CREDENTIALS_FILE_ENV):
            raise ConfigError(f"no credentials: {path} ({CREDENTIALS_FILE_ENV}) does not exist")
        raise ConfigError(f"no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or start "
                          f"'faas serve' once with this data dir (it writes {path})")
    return credentials


# --- progress ----------------------------------------------------------------------------------

class UploadProgress:
    """Prints `uploading 12.3/40.0 MB (30%)`: rewritten in place on a terminal, every 10% otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._last_step = -1

    def __call__(self, sent: int, total: int) -> None:
        percent = 100 * sent // total if total else 100
        line = f"uploading {sent / 1e6:.1f}/{total / 1e6:.1f} MB ({percent}%)"
        if self.live:
            self.stream.write("\r" + line + ("\n" if sent >= total else ""))
        elif percent // 10 != self._last_step:
            self._last_step = percent // 10
            self.stream.write(line + "\n")
        self.stream.flush()


# --- the client --------------------------------------------------------------------------------

def _quote(segment: str) -> str:
    return quote(segment, safe="")  # as botocore renders a {FunctionName} label: ':' becomes %3A


def _query(params: Mapping[str, Any]) -> str:
    return "&".join(f"{_quote(k)}={_quote(str(v))}" for k, v in params.items() if v is not None)


def _error_from(response: Response) -> ClientError:
    code = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    message = ""
    try:
        body = json.loads(response.body) if response.body else {}
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = code or str(body.get("code") or body.get("__type") or "").rsplit("#", 1)[-1]
        message = str(body.get("message") or body.get("Message") or body.get("errorMessage") or "")
    elif response.body:
        message = response.body[:500].decode("utf-8", "replace").strip()
    reason = http.client.responses.get(response.status, "error")
    return ClientError(code or f"HTTP{response.status}", message or reason, response.status)


def _json_field(result: Mapping[str, Any], field: str) -> dict[str, Any]:
    """Lambda returns policies as JSON inside a JSON string field."""
    try:
        value = json.loads(result.get(field) or "")
    except (TypeError, ValueError) as exc:
        raise ClientError("InvalidResponse", f"the platform's {field} is not a JSON document", 200) from exc
    if not isinstance(value, dict):
        raise ClientError("InvalidResponse", f"the platform's {field} is not a JSON object", 200)
    return value


class Client:
    """Signed, synchronous calls to one faas endpoint. One connection per call: it is a CLI."""

    def __init__(self, endpoint_url: str, credentials: sigv4.Credentials, region: str, *,
                 progress: Progress | None = None, endpoint_source: str = "",
                 tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"endpoint {endpoint_url!r} is not an http:// or https:// URL")
        self.endpoint_url = endpoint_url
        self.endpoint_source = endpoint_source
        self.credentials = credentials
        self.region = region
        self.progress = progress
        self.tls = tls  # None: the system's CAs
        self._parts = parts
        self._base_path = parts.path.rstrip("/")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, *, endpoint_url: str | None = None,
                         data_dir: str | None = None, profile: str | None = None,
                         progress: Progress | None = None, ca_bundle: str | None = None) -> Client:
        """A client for the platform this environment points at (see discover_endpoint/credentials)."""
        env = os.environ if env is None else env
        config = settings_module.load(env, data_dir=data_dir)
        return cls.from_settings(config, env, endpoint_url=endpoint_url, profile=profile, progress=progress,
                                 ca_bundle=ca_bundle)

    @classmethod
    def from_settings(cls, config: settings_module.Settings, env: Mapping[str, str], *,
                      endpoint_url: str | None = None, profile: str | None = None,
                      progress: Progress | None = None, ca_bundle: str | None = None) -> Client:
        url, source = discover_endpoint(config.data_dir, env, endpoint_url, fallback=default_endpoint(config))
        credentials = discover_credentials(config.data_dir, env, profile)
        tls = tls_context(env, ca_bundle) if url.startswith("https://") else None
        return cls(url, credentials, config.region, progress=progress, endpoint_source=source, tls=tls)

    # -- transport --

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: bytes | None = None, headers: Mapping[str, str] | None = None,
                timeout: float = REQUEST_TIMEOUT_S) -> Response:
        """Send one signed request; ClientError for any status >= 300."""
        target = self._base_path + path
        query_string = _query(query or {})
        if query_string:
            target += "?" + query_string
        url = f"{self._parts.scheme}://{self._parts.netloc}{target}"
        send_headers = {"Host": sigv4.host_header(url), **(headers or {})}
        send_headers.update(sigv4.sign(self.credentials, self.region, SERVICE, method, url, send_headers,
                                       sigv4.payload_hash(body)))
        # Added after signing, as botocore does: proxies may change these.
        send_headers["User-Agent"] = USER_AGENT
        if body is not None or method in ("POST", "PUT", "PATCH"):
            send_headers["Content-Length"] = str(len(body or b""))
        response = self._send(method, target, send_headers, body or b"", timeout)
        if response.status >= 300:
            raise _error_from(response)
        return response

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self._parts.hostname, self._parts.port
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self.tls)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _unreachable(self, reason: object) -> EndpointUnreachable:
        return EndpointUnreachable(self.endpoint_url, str(reason), self.endpoint_source)

    def _send(self, method: str, target: str, headers: Mapping[str, str], body: bytes,
              timeout: float) -> Response:
        connection = self._connection(timeout)
        try:
            try:
                connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
            except ssl.SSLCertVerificationError as exc:
                raise ConfigError(
                    f"cannot verify the TLS certificate of {self.endpoint_url}: {exc.verify_message}; pass "
                    f"--ca-bundle FILE or set {CA_BUNDLE_ENV} to the certificate of the CA that signed it "
                    "(for a self-signed certificate, the certificate itself)") from exc
            except OSError as exc:  # refused, unknown host, unreachable network
                raise self._unreachable(exc.strerror or exc) from exc
            try:
                self._send_body(connection, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may have answered early (e.g. 413) and closed: read that answer
            except OSError as exc:
                raise self._unreachable(f"upload failed ({exc})") from exc
            try:
                raw = connection.getresponse()
                data = raw.read()
            except socket.timeout as exc:
                raise self._unreachable(f"no answer within {timeout:.0f} s") from exc
            except (http.client.HTTPException, OSError) as exc:
                raise self._unreachable(f"connection lost before an answer ({exc or type(exc).__name__})") from exc
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)
        finally:
            connection.close()

    def _send_body(self, connection: http.client.HTTPConnection, body: bytes) -> None:
        if len(body) <= PROGRESS_THRESHOLD:
            if body:
                connection.send(body)
            return
        view = memoryview(body)
        for start in range(0, len(body), CHUNK_SIZE):
            connection.send(view[start:start + CHUNK_SIZE])
            if self.progress:
                self.progress(min(start + CHUNK_SIZE, len(body)), len(body))

    def _json(self, method: str, path: str, payload: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else None
        return self.request(method, path, body=body, headers=headers, **kwargs).json()

    # -- Lambda API --

    @staticmethod
    def _configuration(runtime: str | None = None, handler: str | None = None, role: str | None = None,
                       memory_size: int | None = None, timeout: int | None = None,
                       environment: Mapping[str, str] | None = None,
                       description: str | None = None) -> dict[str, Any]:
        fields = {"Runtime": runtime, "Handler": handler, "Role": role, "MemorySize": memory_size,
                  "Timeout": timeout, "Description": description,
                  "Environment": None if environment is None else {"Variables": dict(environment)}}
        return {key: value for key, value in fields.items() if value is not None}

    def create_function(self, name: str, *, runtime: str, handler: str, role: str, zip_file: bytes,
                        memory_size: int | None = None, timeout: int | None = None,
                        environment: Mapping[str, str] | None = None,
                        description: str | None = None) -> dict[str, Any]:
        """CreateFunction; returns the FunctionConfiguration."""
        payload = {"FunctionName": name, **self._configuration(runtime, handler, role, memory_size, timeout,
                                                              environment, description),
                   "Code": {"ZipFile": base64.b64encode(zip_file).decode("ascii")}}
        return self._json("POST", f"{LAMBDA_PREFIX}/functions", payload)

    def update_function_code(self, name: str, zip_file: bytes) -> dict[str, Any]:
        payload = {"ZipFile": base64.b64encode(zip_file).decode("ascii")}
        return self._json("PUT", f"{LAMBDA_PREFIX}/functions/{_quote(name)}/code", payload)

    def update_function_configuration(self, name: str, **configuration: Any) -> dict[str, Any]:
        """UpdateFunctionConfiguration with only the given fields (runtime, handler, role, memory_size,
        timeout, environment, description)."""
        return self._json("PUT", f"{LAMBDA_PREFIX}/functions/{_quote(name)}/configuration",
                          self._configuration(**configuration))

    def get_function(self, name: str) -> dict[str, Any]:
        """GetFunction: {"Configuration": ..., "Code": ...}."""
        return self._json("GET", f"{LAMBDA_PREFIX}/functions/{_quote(name)}")

    def list_functions(self) -> list[dict[str, Any]]:
        """Every FunctionConfiguration, following Marker/NextMarker."""
        functions: list[dict[str, Any]] = []
        marker: str | None = None
        seen: set[str] = set()
        while True:
            page = self._json("GET", f"{LAMBDA_PREFIX}/functions", query={"Marker": marker})
            functions.extend(page.get("Functions") or [])
            marker = page.get("NextMarker") or None
            if marker is None:
                return functions
            if marker in seen:
                raise ClientError("InvalidResponse", f"the platform returned NextMarker {marker!r} twice", 200)
            seen.add(marker)

    def delete_function(self, name: str) -> None:
        self.request("DELETE", f"{LAMBDA_PREFIX}/functions/{_quote(name)}")

    def invoke(self, name: str, payload: bytes = b"", *, log_tail: bool = False,
               qualifier: str | None = None) -> InvokeResult:
        """A RequestResponse invocation. A function error is not raised: see `function_error`."""
        headers = {"X-Amz-Invocation-Type": "RequestResponse"}
        if log_tail:
            headers["X-Amz-Log-Type"] = "Tail"
        response = self.request("POST", f"{LAMBDA_PREFIX}/functions/{_quote(name)}/invocations",
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
        response = self.request("POST", f"{LAMBDA_PREFIX}/functions/{_quote(name)}/invocations", body=payload,
                                headers={"X-Amz-Invocation-Type": "Event"})
        return response.headers.get("x-amzn-requestid") or ""

    def create_url(self, name: str, auth_type: str, cors: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"AuthType": auth_type}
        if cors:
            body["Cors"] = dict(cors)
        return self._json("POST", f"{URL_PREFIX}/functions/{_quote(name)}/url", body)

    def get_url(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"{URL_PREFIX}/functions/{_quote(name)}/url")

    def delete_url(self, name: str) -> None:
        self.request("DELETE", f"{URL_PREFIX}/functions/{_quote(name)}/url")

    # -- native API --

    def logs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest `limit` invocation records, oldest first: RequestId, Start, DurationMs,
        BilledDurationMs, Outcome, Cold, Log."""
        page = self._json("GET", f"{NATIVE_PREFIX}/functions/{_quote(name)}/logs", query={"limit": limit})
        return list(page.get("Invocations") or [])

    # -- identities: principals, access keys, bearer tokens, roles, inline policies, audit --

    def create_principal(self, name: str, kind: str = "user") -> dict[str, Any]:
        """{"Name", "Kind", "Arn", "CreatedAt"}."""
        return self._json("POST", f"{NATIVE_PREFIX}/principals", {"Name": name, "Kind": kind})

    def list_principals(self) -> list[dict[str, Any]]:
        return list(self._json("GET", f"{NATIVE_PREFIX}/principals").get("Principals") or [])

    def delete_principal(self, name: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/principals/{_quote(name)}")

    def create_access_key(self, principal: str) -> dict[str, Any]:
        """{"AccessKeyId", "SecretAccessKey", "Principal"}: the only time the secret is shown."""
        return self._json("POST", f"{NATIVE_PREFIX}/principals/{_quote(principal)}/keys", {})

    def list_access_keys(self, principal: str | None = None) -> list[dict[str, Any]]:
        """{"AccessKeyId", "Principal", "Status": "Active"|"Inactive", "CreatedAt"} for each key."""
        page = self._json("GET", f"{NATIVE_PREFIX}/keys", query={"principal": principal})
        return list(page.get("AccessKeys") or [])

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> None:
        self._json("PATCH", f"{NATIVE_PREFIX}/keys/{_quote(key_id)}", {"Enabled": enabled})

    def delete_access_key(self, key_id: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/keys/{_quote(key_id)}")

    def create_token(self, ttl_s: int = 3600) -> dict[str, Any]:
        """A bearer token for the caller, bound to the signing access key: {"Token", "TokenId", "Principal",
        "AccessKeyId", "CreatedAt", "Expiration"}; the only time the token is shown."""
        return self._json("POST", f"{NATIVE_PREFIX}/tokens", {"TtlSeconds": ttl_s})

    def list_tokens(self, principal: str | None = None) -> list[dict[str, Any]]:
        """The live tokens of a principal (default: the caller), never the tokens themselves."""
        return list(self._json("GET", f"{NATIVE_PREFIX}/tokens", query={"principal": principal}).get("Tokens") or [])

    def revoke_token(self, token_id: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/tokens/{_quote(token_id)}")

    def create_role(self, name: str, description: str = "") -> dict[str, Any]:
        """{"Name", "Arn", "Description", "CreatedAt"}."""
        return self._json("POST", f"{NATIVE_PREFIX}/roles", {"Name": name, "Description": description})

    def list_roles(self) -> list[dict[str, Any]]:
        return list(self._json("GET", f"{NATIVE_PREFIX}/roles").get("Roles") or [])

    def delete_role(self, name: str) -> None:
        self.request("DELETE", f"{NATIVE_PREFIX}/roles/{_quote(name)}")

    @staticmethod
    def _owner_path(owner_kind: str, owner: str) -> str:
        if owner_kind not in ("principal", "role"):
            raise ValueError(f"owner_kind must be principal or role, not {owner_kind!r}")
        return f"{NATIVE_PREFIX}/{owner_kind}s/{_quote(owner)}/policies"

    def put_policy(self, owner_kind: str, owner: str, policy_name: str, document: Any) -> dict[str, Any]:
        """Create or replace an inline policy of a principal or a role; returns the stored document."""
        return self._json("PUT", f"{self._owner_path(owner_kind, owner)}/{_quote(policy_name)}",
                          {"PolicyDocument": document})

    def list_policies(self, owner_kind: str, owner: str) -> dict[str, Any]:
        """The inline policies of a principal or a role, by name."""
        return dict(self._json("GET", self._owner_path(owner_kind, owner)).get("Policies") or {})

    def delete_policy(self, owner_kind: str, owner: str, policy_name: str) -> None:
        self.request("DELETE", f"{self._owner_path(owner_kind, owner)}/{_quote(policy_name)}")

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
        result = self._json("POST", f"{LAMBDA_PREFIX}/functions/{_quote(function)}/policy",
                            {k: v for k, v in payload.items() if v is not None})
        return _json_field(result, "Statement")

    def remove_permission(self, function: str, statement_id: str) -> None:
        self.request("DELETE", f"{LAMBDA_PREFIX}/functions/{_quote(function)}/policy/{_quote(statement_id)}")

    def get_policy(self, function: str) -> dict[str, Any]:
        """GetPolicy; returns the function's policy document."""
        return _json_field(self._json("GET", f"{LAMBDA_PREFIX}/functions/{_quote(function)}/policy"), "Policy")

