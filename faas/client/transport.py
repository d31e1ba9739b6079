"""Signed HTTP to one faas endpoint: one connection per call, answers in Lambda's error format raised as
ClientError, a lost connection as EndpointUnreachable, and progress for large uploads."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from typing import Any, Self, TextIO
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

from faas import settings as settings_module
from faas.client.discovery import (CA_BUNDLE_ENV, default_endpoint, discover_credentials, discover_endpoint,
                                   signing_region, tls_context)
from faas.errors import ConfigError, FaasError
from faas.security import sigv4

SERVICE = "lambda"  # the default credential scope; faas.client.queues signs for "sqs"
PROGRESS_THRESHOLD = 1024 * 1024  # bodies above this are sent in chunks with progress
CHUNK_SIZE = 256 * 1024
REQUEST_TIMEOUT_S = 300.0
USER_AGENT = "faas-cli/0.1"

Progress = Callable[[int, int], None]  # (bytes sent, bytes in total)


class ClientError(FaasError):
    """The platform answered with an error in Lambda's format."""

    def __init__(self, code: str, message: str, status: int, credentials_source: str = "") -> None:
        self.code = code
        self.message = message
        self.status = status
        self.credentials_source = credentials_source  # on a refusal (403): whose credentials were refused
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


# --- requests ----------------------------------------------------------------------------------

def pages(fetch: Callable[[str | None], Mapping[str, Any]], items: str, next_token: str) -> list[Any]:
    """Every item of a paged listing: `fetch(token)` answers a page holding `items`, and `next_token` names
    the page after it. A token seen twice is the platform's error, not a reason to loop forever."""
    found: list[Any] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = fetch(token)
        found.extend(page.get(items) or [])
        token = page.get(next_token) or None
        if token is None:
            return found
        if token in seen:
            raise ClientError("InvalidResponse", f"the platform returned {next_token} {token!r} twice", 200)
        seen.add(token)


def quote_segment(segment: str) -> str:
    return quote(segment, safe="")  # as botocore renders a {FunctionName} label: ':' becomes %3A


def _query(params: Mapping[str, Any]) -> str:
    return "&".join(f"{quote_segment(k)}={quote_segment(str(v))}" for k, v in params.items() if v is not None)


def _error_from(response: Response, credentials_source: str) -> ClientError:
    code = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    message = ""
    try:
        body = json.loads(response.body) if response.body else {}
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = code or str(body.get("code") or body.get("__type") or "").rsplit("#", 1)[-1]
        message = str(body.get("message") or body.get("Message") or body.get("errorMessage") or "")
    elif b"<ErrorResponse" in response.body[:200]:  # the query protocol's (SNS's) XML error
        error = _xml_error(response.body)
        code, message = code or error.get("Code", ""), error.get("Message", "")
    elif response.body:
        message = response.body[:500].decode("utf-8", "replace").strip()
    reason = http.client.responses.get(response.status, "error")
    return ClientError(code or f"HTTP{response.status}", message or reason, response.status,
                       credentials_source if response.status == 403 else "")


def _xml_error(body: bytes) -> dict[str, str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return {}
    return {element.tag.rsplit("}", 1)[-1]: element.text or "" for element in root.iter()
            if element.tag.rsplit("}", 1)[-1] in ("Code", "Message")}


class Transport:
    """Signed, synchronous requests to one faas endpoint. One connection per call: it is a CLI."""

    def __init__(self, endpoint_url: str, credentials: sigv4.Credentials, region: str, *,
                 progress: Progress | None = None, endpoint_source: str = "", credentials_source: str = "",
                 tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"endpoint {endpoint_url!r} is not an http:// or https:// URL")
        self.endpoint_url = endpoint_url
        self.endpoint_source = endpoint_source
        self.credentials = credentials
        self.credentials_source = credentials_source  # e.g. "profile dev in ~/.aws/credentials", for refusals
        self.region = region
        self.progress = progress
        self.tls = tls  # None: the system's CAs
        self._parts = parts
        self._base_path = parts.path.rstrip("/")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, *, endpoint_url: str | None = None,
                         data_dir: str | None = None, profile: str | None = None, region: str | None = None,
                         progress: Progress | None = None, ca_bundle: str | None = None) -> Self:
        """A client for the platform this environment points at (see faas.client.discovery)."""
        env = os.environ if env is None else env
        config = settings_module.load(env, data_dir=data_dir)
        return cls.from_settings(config, env, endpoint_url=endpoint_url, profile=profile, region=region,
                                 progress=progress, ca_bundle=ca_bundle)

    @classmethod
    def from_settings(cls, config: settings_module.Settings, env: Mapping[str, str], *,
                      endpoint_url: str | None = None, profile: str | None = None, region: str | None = None,
                      progress: Progress | None = None, ca_bundle: str | None = None) -> Self:
        """Each of the endpoint, the credentials and the region from the option given, else the environment,
        else the data dir's files, else the default (faas.client.discovery)."""
        url, source = discover_endpoint(config.data_dir, env, endpoint_url, fallback=default_endpoint(config))
        credentials, credentials_source = discover_credentials(config.data_dir, env, profile)
        tls = tls_context(env, ca_bundle) if url.startswith("https://") else None
        return cls(url, credentials, signing_region(env, region, config.region), progress=progress,
                   endpoint_source=source, credentials_source=credentials_source, tls=tls)

    # -- transport --

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: bytes | None = None, headers: Mapping[str, str] | None = None,
                timeout: float = REQUEST_TIMEOUT_S, service: str = SERVICE) -> Response:
        """Send one signed request, for `service` (the credential scope's); ClientError for any status >= 300."""
        target = self._base_path + path
        query_string = _query(query or {})
        if query_string:
            target += "?" + query_string
        url = f"{self._parts.scheme}://{self._parts.netloc}{target}"
        send_headers = {"Host": sigv4.host_header(url), **(headers or {})}
        send_headers.update(sigv4.sign(self.credentials, self.region, service, method, url, send_headers,
                                       sigv4.payload_hash(body)))
        # Added after signing, as botocore does: proxies may change these.
        send_headers["User-Agent"] = USER_AGENT
        if body is not None or method in ("POST", "PUT", "PATCH"):
            send_headers["Content-Length"] = str(len(body or b""))
        response = self._send(method, target, send_headers, body or b"", timeout)
        if response.status >= 300:
            raise _error_from(response, self.credentials_source)
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


class JsonProtocolClient(Transport):
    """An AWS JSON-protocol service on the faas endpoint (SQS, EventBridge, Logs): one POST to `/` per
    operation, named by `X-Amz-Target: <TARGET_PREFIX>.<Operation>`, signed for the scope's SERVICE."""

    SERVICE: str
    TARGET_PREFIX: str
    CONTENT_TYPE: str  # application/x-amz-json-1.0 or -1.1, as the service's model says

    @classmethod
    def encode(cls, operation: str, payload: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
        """The headers and body of one request; options left at None are left out."""
        headers = {"X-Amz-Target": f"{cls.TARGET_PREFIX}.{operation}", "Content-Type": cls.CONTENT_TYPE}
        return headers, json.dumps({k: v for k, v in payload.items() if v is not None}).encode("utf-8")

    def call(self, operation: str, payload: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        headers, body = self.encode(operation, payload)
        extra = {} if timeout is None else {"timeout": timeout}
        answer = self.request("POST", "/", body=body, headers=headers, service=self.SERVICE, **extra).json()
        if not isinstance(answer, dict):
            raise ClientError("InvalidResponse", f"the platform answered {operation} with {answer!r}", 200)
        return answer
