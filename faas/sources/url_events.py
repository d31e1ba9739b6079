"""Function URLs as pure values: HTTP request -> payload format 2.0 event, result -> HTTP response. HTTP APIs
(faas.sources.http_apis) build their 2.0 events and map their responses with the same code."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from faas.security import sigv4
from faas.security.policy import FUNCTION_URL_AUTH_TYPE, INVOKED_VIA_FUNCTION_URL

Header = tuple[str, str]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# What AWS sends for a function error or a response it cannot map: no error type, no message, no trace.
BAD_GATEWAY_BODY = b"Internal Server Error"

# A request body is passed as text (isBase64Encoded false) when its media type is one of these, or
# text/*, or application/<anything>+json|+xml, AND the bytes are valid UTF-8. Everything else, a body
# without a Content-Type included, is base64: the function can always recover the exact bytes.
TEXT_MEDIA_TYPES = frozenset({
    "application/json", "application/javascript", "application/ecmascript", "application/x-javascript",
    "application/xml", "application/x-www-form-urlencoded", "application/graphql", "application/yaml",
    "application/x-yaml", "application/x-ndjson",
})

# What a request through a URL must be allowed, each (action, the condition keys it is evaluated with).
# Since October 2025 Lambda wants both, for either auth type: InvokeFunctionUrl for this auth type, and
# InvokeFunction as invoked via a URL, which a grant limited to URL invocations covers and nothing
# else a caller sends can imitate. An anonymous caller (NONE) is matched only by principal "*".
URL_PERMISSIONS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    auth_type: (
        ("lambda:InvokeFunctionUrl", {FUNCTION_URL_AUTH_TYPE: auth_type}),
        ("lambda:InvokeFunction", {INVOKED_VIA_FUNCTION_URL: "true"}),
    )
    for auth_type in ("NONE", "AWS_IAM")
}

# Request headers that carry a caller's credentials for this platform. They authenticate the caller to
# faas, not to the function, and a bearer token works on every API for days: a function never sees them.
# On an AWS_IAM URL the Authorization header is always the platform's (the request was refused
# otherwise); on a NONE URL it is dropped only when it is one of the platform's own (a SigV4 signature
# or a faas bearer token), so a function can still do its own authentication with it.
SESSION_TOKEN_HEADER = "x-amz-security-token"
_SIGV4_SCHEME = sigv4.ALGORITHM.lower()
_BEARER_TOKEN_PREFIX = "faas_"

# Response headers that frame the message or belong to one connection (RFC 9110 7.6.1, 6.4, 8.6). The
# platform frames the response itself: a function's own Transfer-Encoding or Content-Length next to
# the platform's would let it split one response into two for anything between the caller and faas.
FRAMING_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    "content-length",
})

# What the URL's front door adds to every request, as Lambda's does: a function sees these from the platform,
# never the caller's own (a caller could otherwise claim any address or claim it used HTTPS), except that a
# trusted proxy's X-Forwarded-* say who its client was (see origin()). A caller's trace id is kept, as AWS does.
FORWARDED_FOR = "x-forwarded-for"
FORWARDED_PROTO = "x-forwarded-proto"
FORWARDED_PORT = "x-forwarded-port"
TRACE_ID = "x-amzn-trace-id"
PLATFORM_HEADERS = frozenset({FORWARDED_FOR, FORWARDED_PROTO, FORWARDED_PORT, TRACE_ID})
# X-Ray's trace header: `Root=1-<8 hex epoch seconds>-<24 hex>` then optional `;Parent=...;Sampled=...`.
_TRACE_HEADER = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}(;[A-Za-z0-9_-]+=[A-Za-z0-9_.=-]*)*$")
_TRACE_MAX = 256

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# RFC 9110 token: what a header name may be. Anything else (spaces, CR/LF, ':') could split a response.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a request came from, as the function is told: requestContext.http.sourceIp and the proxy headers."""

    source_ip: str
    forwarded_for: str               # x-forwarded-for; its last entry is always source_ip, as on AWS
    proto: str                       # x-forwarded-proto: http or https, what the client used
    port: int                        # x-forwarded-port: the port the client connected to
    trace_id: str                    # x-amzn-trace-id, also the invocation's Lambda-Runtime-Trace-Id

    def headers(self) -> dict[str, str]:
        return {FORWARDED_FOR: self.forwarded_for, FORWARDED_PROTO: self.proto, FORWARDED_PORT: str(self.port),
                TRACE_ID: self.trace_id}


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    """One HTTP request to a function URL, as the server received it."""

    method: str
    raw_path: str                    # as received, percent-encoded, without the query
    raw_query: str                   # without '?'
    headers: list[Header]            # in order, original case, repeated names possible
    body: bytes
    origin: Origin
    url_id: str
    domain_name: str                 # "<url-id>.lambda-url.<region>.on.faas", or the Host as received
    account_id: str
    request_id: str
    now: datetime.datetime           # UTC
    authorizer_iam: dict | None = None  # set exactly for AWS_IAM URLs and routes: see authorizer_iam()
    # What an HTTP API's route adds (a function URL is one `$default` route on a `$default` stage).
    route_key: str = "$default"
    stage: str = "$default"
    path_parameters: dict[str, str] | None = None
    stage_variables: dict[str, str] | None = None
    authorizer: dict | None = None  # requestContext.authorizer of a JWT route: {"jwt": {claims, scopes}}


# --- request -> event -----------------------------------------------------------------------------

def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


def trace_root(epoch_s: int, random: bytes) -> str:
    """A new X-Ray trace id, `Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>`; `random` is 12 bytes."""
    return f"Root=1-{epoch_s & 0xFFFFFFFF:08x}-{random.hex()}"


def origin(headers: list[Header], *, peer: str, scheme: str, port: int, trusted: tuple[Network, ...],
           new_trace_id: str) -> Origin:
    """Who the client was, how it connected, and its trace id, as Lambda's front door tells a function.

    From an untrusted peer (the default: FAAS_TRUSTED_PROXIES is empty) the caller's X-Forwarded-* are
    ignored: sourceIp and x-forwarded-for are the peer's address, the protocol and port are the ones it
    connected with. From a trusted proxy, its X-Forwarded-For is read from the right, past every trusted
    address, to the first one that is not: that is the client (sourceIp), and x-forwarded-for is the chain
    up to and including it (the trusted proxies' own hops are not shown), so its last entry is sourceIp as
    it is on AWS. A trusted proxy's X-Forwarded-Proto and X-Forwarded-Port say how its client connected.
    A caller's well-formed X-Amzn-Trace-Id is kept (AWS keeps it); otherwise `new_trace_id` is used.
    """
    peer_ip = _address(peer)
    client = peer_ip
    chain: list[str] = []
    proto, client_port = scheme, port
    if peer_ip is not None and _within(peer_ip, trusted):
        entries = [part.strip() for part in _joined(headers, FORWARDED_FOR).split(",") if part.strip()]
        while entries and client is not None and _within(client, trusted):
            candidate = _address(entries[-1])
            if candidate is None:
                break  # not an address: nothing to its left can be believed
            entries.pop()
            client = candidate
        chain = entries if client is not None and not _within(client, trusted) else []
        claimed_proto = _joined(headers, FORWARDED_PROTO).split(",", 1)[0].strip().lower()
        if claimed_proto in ("http", "https"):
            proto = claimed_proto
            client_port = 443 if proto == "https" else 80  # unless the proxy says which port (below)
        claimed_port = _joined(headers, FORWARDED_PORT).split(",", 1)[0].strip()
        if claimed_port.isdigit() and 0 < int(claimed_port) < 65536:
            client_port = int(claimed_port)
    source_ip = str(client) if client is not None else peer
    given_trace = _joined(headers, TRACE_ID).strip()
    trace_id = given_trace if len(given_trace) <= _TRACE_MAX and _TRACE_HEADER.match(given_trace) else new_trace_id
    return Origin(source_ip=source_ip, forwarded_for=", ".join([*chain, source_ip]), proto=proto, port=client_port,
                  trace_id=trace_id)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d
    return address


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def _joined(headers: list[Header], name: str) -> str:
    return ",".join(value for key, value in headers if key.lower() == name)


def authorizer_iam(*, access_key: str | None, account_id: str, user_arn: str, user_id: str) -> dict[str, Any]:
    """`requestContext.authorizer.iam`: who signed an AWS_IAM URL request, in Lambda's field names.

    There are no unique ids like AIDA...: callerId and userId are the principal's name (for a role
    session `<role>:<session>`, as Lambda writes it). accessKey is null for a bearer token.
    """
    return {"accessKey": access_key, "accountId": account_id, "callerId": user_id, "cognitoIdentity": None,
            "principalOrgId": None, "userArn": user_arn, "userId": user_id}


def is_platform_credential(name: str, value: str, signed: bool) -> bool:
    """Whether a request header (name lower-cased) is a credential for the platform; `signed`: AWS_IAM URL."""
    if name == SESSION_TOKEN_HEADER:
        return True
    if name != "authorization":
        return False
    if signed:
        return True
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    return scheme == _SIGV4_SCHEME or (scheme == "bearer" and rest.strip().startswith(_BEARER_TOKEN_PREFIX))


def build_event(request: HttpRequest) -> dict[str, Any]:
    """The payload format 2.0 event Lambda gives a function for this request, without the caller's
    credentials for the platform (the caller's identity is in requestContext.authorizer.iam)."""
    signed = request.authorizer_iam is not None
    cookies: list[str] = []
    joined: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        if is_platform_credential(key, value, signed) or key in PLATFORM_HEADERS:
            continue
        if key == "cookie":
            # Cookies travel in their own field, one entry per cookie, never in `headers`.
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    joined.update(request.origin.headers())

    when = _utc(request.now)
    context: dict[str, Any] = {
        "accountId": request.account_id,
        "apiId": request.url_id,
        "domainName": request.domain_name,
        "domainPrefix": request.url_id,
        "http": {
            "method": request.method.upper(),
            "path": unquote(request.raw_path),
            "protocol": "HTTP/1.1",
            "sourceIp": request.origin.source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": request.route_key,
        "stage": request.stage,
        "time": request_time(when),
        "timeEpoch": (when - _EPOCH) // datetime.timedelta(milliseconds=1),
    }
    if request.authorizer_iam is not None:
        context["authorizer"] = {"iam": dict(request.authorizer_iam)}
    elif request.authorizer is not None:
        context["authorizer"] = request.authorizer

    # A presigned URL's X-Amz-* parameters are a credential too (a replayable one until it expires).
    raw_query = without_presign(request.raw_query)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": request.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    query = query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    if request.path_parameters:
        event["pathParameters"] = request.path_parameters
    if request.stage_variables:
        event["stageVariables"] = request.stage_variables
    event["requestContext"] = context
    if request.body:
        text = body_text(_first(request.headers, "content-type"), request.body)
        if text is None:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
    else:
        event["isBase64Encoded"] = False
    return event


def without_presign(raw_query: str) -> str:
    """The query as received, less a presigned URL's X-Amz-* parameters when it is one (other parameters
    keep their order and encoding). A query that is not presigned is left alone: a function may use
    such names for itself."""
    if not sigv4.is_presigned(raw_query):
        return raw_query
    return "&".join(part for part in raw_query.split("&")
                    if unquote(part.partition("=")[0]) not in sigv4.PRESIGN_PARAMS)


def query_parameters(raw_query: str) -> dict[str, str]:
    """Decoded parameters ('+' is a space, as in a form), repeated keys joined with ','; blank values kept."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def body_text(content_type: str | None, body: bytes) -> str | None:
    """The body as text when its content type is textual and it is valid UTF-8; None means send it base64."""
    if content_type is None:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    textual = (
        media_type.startswith("text/")
        or media_type in TEXT_MEDIA_TYPES
        or (media_type.startswith("application/") and media_type.endswith(("+json", "+xml")))
    )
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def request_time(when: datetime.datetime) -> str:
    """`27/Nov/2026:06:58:48 +0000`: the CLF timestamp, with English month names whatever the locale."""
    when = _utc(when)
    return f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year:04d}:{when:%H:%M:%S} +0000"


def _utc(when: datetime.datetime) -> datetime.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


def _first(headers: list[Header], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


# --- result -> response ---------------------------------------------------------------------------

def bad_gateway() -> tuple[int, list[Header], bytes]:
    """The generic 502; a new header list each time, so a caller may add CORS headers to it."""
    return 502, [("Content-Type", "text/plain; charset=utf-8")], BAD_GATEWAY_BODY


class _Malformed(Exception):
    """The function returned a structured response Lambda cannot turn into HTTP."""


def response_from_result(payload: bytes, function_error: str | None,
                         failed: Callable[[], tuple[int, list[Header], bytes]] = bad_gateway,
                         ) -> tuple[int, list[Header], bytes]:
    """The HTTP response (status, headers, body) for what the function returned.

    - A function error, invalid JSON or a malformed structured response: 502 `Internal Server Error`,
      with nothing from the function (no error type, no message); `failed` answers it otherwise (an HTTP
      API's is API Gateway's 500).
    - A JSON object with `statusCode` (200-599): that status, `headers` (non-string values as JSON text;
      framing and connection headers such as Transfer-Encoding and Content-Length are dropped),
      `cookies` (one Set-Cookie each), `body` (base64-decoded when `isBase64Encoded` is true;
      a non-string body is sent as JSON text); content-type defaults to application/json.
    - Any other JSON (an object without `statusCode`, a string, a number, null): 200,
      application/json, the payload bytes as the function returned them (a string keeps its quotes).
    """
    if function_error is not None:
        return failed()
    try:
        value = json.loads(payload)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return failed()
    if not isinstance(value, dict) or "statusCode" not in value:
        return 200, [("Content-Type", "application/json")], payload
    try:
        return _structured(value)
    except _Malformed:
        return failed()


def stream_head(content_type: str, prelude: bytes | None) -> tuple[int, list[Header]] | None:
    """Status and headers of a streamed response: 200 and the stream's content type, or what an
    awslambda.HttpResponseStream prelude (`{"statusCode", "headers", "cookies"}`, JSON) says; its
    content type defaults to application/octet-stream. None when the prelude is malformed (a 502)."""
    if prelude is None:
        return 200, [("Content-Type", content_type)]
    try:
        value = json.loads(prelude)
        if not isinstance(value, dict) or not isinstance(value.get("headers", {}), dict):
            return None
        headers = value.get("headers") or {}
        if not any(isinstance(name, str) and name.lower() == "content-type" for name in headers):
            headers = {**headers, "Content-Type": "application/octet-stream"}
        status, head, _ = _structured({"statusCode": 200, **value, "headers": headers, "body": None})
    except (ValueError, _Malformed):
        return None
    return status, head


def _structured(value: dict[str, Any]) -> tuple[int, list[Header], bytes]:
    status = value["statusCode"]
    # 1xx is never a final response: a 101 or 103 would leave the caller waiting or switch protocols.
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise _Malformed("statusCode")

    headers: list[Header] = []
    given = value.get("headers")
    if given is not None:
        if not isinstance(given, dict):
            raise _Malformed("headers")
        for name, raw in given.items():
            if raw is None:
                continue
            name, text = _header_name(name), _header_value(raw)
            if name.lower() not in FRAMING_HEADERS:
                headers.append((name, text))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))

    cookies = value.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list):
            raise _Malformed("cookies")
        headers.extend(("Set-Cookie", _header_value(cookie, strings_only=True)) for cookie in cookies)

    body = value.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        data = json.dumps(body).encode()
    elif value.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise _Malformed("body") from exc
    else:
        data = body.encode("utf-8", "surrogatepass")
    return status, headers, data


def _header_name(name: Any) -> str:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise _Malformed("header name")
    return name


def _header_value(raw: Any, strings_only: bool = False) -> str:
    if isinstance(raw, str):
        text = raw
    elif not strings_only and isinstance(raw, (bool, int, float)):
        text = json.dumps(raw)  # true, not True: what a JavaScript or Java runtime would write
    else:
        raise _Malformed("header value")
    if _UNSAFE_VALUE.search(text):
        raise _Malformed("header value")
    return text
