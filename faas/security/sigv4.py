"""AWS Signature Version 4 as botocore computes it: pure functions shared by signing and verification."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# Headers botocore never signs (proxies and HTTP clients may rewrite them on the way).
UNSIGNED_HEADERS = frozenset({
    "baggage", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "x-amzn-trace-id",
})

_REPLACED_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})

# A presigned URL (query authentication): the signature and everything it needs travel in the query.
# Names are case-sensitive, as AWS reads them. The canonical query covers all of them but the signature.
SIGNATURE_PARAM = "X-Amz-Signature"
PRESIGN_PARAMS = frozenset({
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
    SIGNATURE_PARAM, "X-Amz-Security-Token",
})
# A query carrying any of these asks for query authentication (an incomplete set is refused, not ignored).
_PRESIGN_MARKERS = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", SIGNATURE_PARAM})
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # AWS's limit for X-Amz-Expires: seven days

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


@dataclasses.dataclass(frozen=True)
class Authorization:
    """The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header."""

    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return credential_scope(self.date, self.region, self.service)


def payload_hash(body: bytes | None) -> str:
    return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256


def amz_date(now: datetime.datetime) -> str:
    return now.astimezone(datetime.timezone.utc).strftime(AMZ_DATE_FORMAT)


_AMZ_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")


@functools.lru_cache(maxsize=64)
def parse_amz_date(stamp: str) -> datetime.datetime:
    """X-Amz-Date (YYYYMMDDTHHMMSSZ) as a UTC datetime, or ValueError. On every signed request, and a stamp
    repeats for every request signed within its second: cached, and parsed without strptime."""
    found = _AMZ_DATE.fullmatch(stamp)
    if found is None:
        raise ValueError(f"X-Amz-Date {stamp!r} is not YYYYMMDDTHHMMSSZ")
    return datetime.datetime(*map(int, found.groups()), tzinfo=datetime.timezone.utc)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, plus AWS's removal of empty segments (botocore.utils.remove_dot_segments).
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and segments else ""
    return first + "/".join(segments) + last


def canonical_uri(raw_path: str) -> str:
    """The path as sent on the wire, encoded once more (`%3A` becomes `%253A`), as botocore does."""
    return quote(_remove_dot_segments(raw_path), safe="/~", errors="surrogateescape")


def canonical_query(query_string: str, omit: frozenset[str] = frozenset()) -> str:
    """Pairs sorted by encoded key then value, each encoded with only `-_.~` safe; keys in `omit`
    (decoded: a presigned URL's X-Amz-Signature) are left out.

    Each key and value is decoded and encoded again, so a query encoded the way SDKs encode it
    (`%20`, `%2B`, `%2F`) canonicalises to exactly what botocore signs, and case differences in
    percent escapes do not matter.
    """
    if not query_string:
        return ""
    pairs = []
    for part in query_string.split("&"):
        key, _, value = part.partition("=")
        if omit and unquote(key) in omit:
            continue
        pairs.append((_requote(key), _requote(value)))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _requote(text: str) -> str:
    # Bytes that are not UTF-8 (as %FF, or raw, which aiohttp hands over as surrogates) keep their value.
    return quote(unquote(text, errors="surrogateescape"), safe="-_.~", errors="surrogateescape")


def _header_items(headers: Headers) -> Iterable[tuple[str, str]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def canonical_headers(headers: Headers, signed_headers: Sequence[str]) -> str:
    """`name:value` lines for exactly the signed headers; repeated headers joined with commas."""
    values: dict[str, list[str]] = {}
    for name, value in _header_items(headers):
        values.setdefault(name.lower(), []).append(" ".join(str(value).split()))
    return "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed_headers)


def canonical_request(method: str, raw_path: str, query_string: str, headers: Headers,
                      signed_headers: Sequence[str], payload_hash: str, omit: frozenset[str] = frozenset()) -> str:
    """`omit`: query keys the signature does not cover (a presigned URL's X-Amz-Signature)."""
    return "\n".join((
        method.upper(),
        canonical_uri(raw_path),
        canonical_query(query_string, omit),
        canonical_headers(headers, signed_headers),
        ";".join(signed_headers),
        payload_hash,
    ))


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    # Header values that are not UTF-8 arrive from aiohttp as surrogates: hash the bytes that were sent.
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key; it depends only on the day, so a verifier may cache it per key and date."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def signature(key: bytes, string_to_sign: str) -> str:
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii", "replace"), given.encode("ascii", "replace"))


def authorization_header(access_key_id: str, scope: str, signed_headers: Sequence[str], sig: str) -> str:
    return (f"{ALGORITHM} Credential={access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(signed_headers)}, Signature={sig}")


def parse_authorization(value: str) -> Authorization:
    """Split an Authorization header; ValueError when it is not a well-formed SigV4 header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise ValueError(f"unsupported authorization algorithm {algorithm!r}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if not sep:
            raise ValueError(f"malformed authorization field {part.strip()!r}")
        fields[name] = field_value
    try:
        credential, signed, sig = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as exc:
        raise ValueError(f"authorization header lacks {exc.args[0]}") from None
    # The access key id itself never contains '/', the scope has exactly four parts after it.
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise ValueError(f"malformed credential scope {credential!r}")
    if not signed or not sig:
        raise ValueError("empty SignedHeaders or Signature")
    return Authorization(access_key_id=parts[0], date=parts[1], region=parts[2], service=parts[3],
                         signed_headers=tuple(signed.split(";")), signature=sig)


@dataclasses.dataclass(frozen=True)
class Presigned:
    """The query parameters of a presigned URL, as botocore's SigV4QueryAuth writes them."""

    authorization: Authorization
    amz_date: str          # X-Amz-Date, YYYYMMDDTHHMMSSZ
    expires: int           # X-Amz-Expires, seconds after amz_date
    security_token: str | None


def is_presigned(query_string: str) -> bool:
    """Whether a query asks for query authentication (it names an algorithm, a credential or a signature)."""
    # Keys are compared decoded, as parse_presigned reads them: `X%2DAmz-Signature` is a signature too.
    return bool(query_string) and any(
        unquote(part.partition("=")[0]) in _PRESIGN_MARKERS for part in query_string.split("&"))


def parse_presigned(query_string: str) -> Presigned:
    """The presign parameters of a query; ValueError unless each is there exactly once and well formed."""
    found: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True, errors="surrogateescape"):
        if key in PRESIGN_PARAMS:
            if key in found:  # two values: which one was meant to be signed is ambiguous
                raise ValueError(f"{key} is given more than once")
            found[key] = value
    missing = sorted(PRESIGN_PARAMS - {"X-Amz-Security-Token"} - found.keys())
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not all(value.isascii() for value in found.values()):
        raise ValueError("the X-Amz-* parameters must be ASCII")
    header = (f"{found['X-Amz-Algorithm']} Credential={found['X-Amz-Credential']}, "
              f"SignedHeaders={found['X-Amz-SignedHeaders']}, Signature={found[SIGNATURE_PARAM]}")
    authorization = parse_authorization(header)
    stamp, expires = found["X-Amz-Date"], found["X-Amz-Expires"]
    try:
        parse_amz_date(stamp)
    except ValueError:
        raise ValueError(f"X-Amz-Date {stamp!r} is not YYYYMMDDTHHMMSSZ") from None
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGN_EXPIRES:
        raise ValueError(f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_EXPIRES}")
    return Presigned(authorization=authorization, amz_date=stamp, expires=int(expires),
                     security_token=found.get("X-Amz-Security-Token"))


def host_header(url: str) -> str:
    """The Host value botocore signs: lower-case host, port only when not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def sign(credentials: Credentials, region: str, service: str, method: str, url: str,
         headers: Headers, payload_hash: str, now: datetime.datetime | None = None) -> dict[str, str]:
    """The headers to add to a request so it carries a SigV4 signature, as botocore's SigV4Auth.

    `url` is the URL as sent (path and query already percent-encoded). Every header given is
    signed except those in UNSIGNED_HEADERS; `Host` is derived from the URL unless given. Lambda
    clients do not send `X-Amz-Content-Sha256`: the payload hash is only inside the signature.
    """
    stamp = amz_date(now or datetime.datetime.now(datetime.timezone.utc))
    added = {"X-Amz-Date": stamp}
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    to_sign: dict[str, list[str]] = {}
    for name, value in _header_items(headers):
        lname = name.lower()
        # A re-signed request replaces its old signature, date and token.
        if lname not in UNSIGNED_HEADERS and lname not in _REPLACED_HEADERS:
            to_sign.setdefault(lname, []).append(value)
    for name, value in added.items():
        to_sign[name.lower()] = [value]
    to_sign.setdefault("host", [host_header(url)])
    signed = sorted(to_sign)
    pairs = [(name, value) for name in signed for value in to_sign[name]]
    parts = urlsplit(url)
    request = canonical_request(method, parts.path, parts.query, pairs, signed, payload_hash)
    scope = credential_scope(stamp[:8], region, service)
    key = signing_key(credentials.secret_access_key, stamp[:8], region, service)
    sig = signature(key, string_to_sign(stamp, scope, request))
    added["Authorization"] = authorization_header(credentials.access_key_id, scope, signed, sig)
    return added
