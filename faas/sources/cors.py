"""How a function URL answers CORS: preflights from its configuration, and the headers added to the
function's responses (pure; the configuration itself is checked by faas.services.urls)."""

from __future__ import annotations

from collections.abc import Mapping

Header = tuple[str, str]


def preflight(cors: dict | None, method: str, headers: Mapping[str, str]) -> tuple[int, list[Header]] | None:
    """Lambda's own answer to a CORS preflight, or None when the request goes to the function.

    A preflight is an OPTIONS request with Origin and Access-Control-Request-Method, to a URL with CORS
    configured. It is always answered 200; an origin that isn't allowed gets no Access-Control-* header,
    so the browser refuses the real request.
    """
    if not cors or method.upper() != "OPTIONS":
        return None
    origin = _lookup(headers, "origin")
    requested_method = _lookup(headers, "access-control-request-method")
    if origin is None or requested_method is None:
        return None
    allow_origin = _allowed_origin(cors, origin)
    if allow_origin is None:
        return 200, []

    credentials = cors.get("AllowCredentials") is True
    out: list[Header] = [("Access-Control-Allow-Origin", allow_origin)]
    if credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    methods = cors.get("AllowMethods") or []
    if methods:
        # With credentials a browser reads '*' literally, so answer the method actually asked for.
        wildcard = "*" in methods and credentials
        out.append(("Access-Control-Allow-Methods", requested_method.upper() if wildcard else ",".join(methods)))
    allow_headers = cors.get("AllowHeaders") or []
    if allow_headers:
        if "*" in allow_headers and credentials:
            requested = _lookup(headers, "access-control-request-headers")
            if requested:
                out.append(("Access-Control-Allow-Headers", requested))
        else:
            out.append(("Access-Control-Allow-Headers", ",".join(allow_headers)))
    if cors.get("MaxAge") is not None:
        out.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    if allow_origin != "*":
        out.append(("Vary", "Origin"))
    return 200, out


def cors_headers(cors: dict | None, headers: Mapping[str, str]) -> list[Header]:
    """The CORS headers Lambda adds to a function's response for this request's Origin (none if refused)."""
    if not cors:
        return []
    origin = _lookup(headers, "origin")
    if origin is None:
        return []
    allow_origin = _allowed_origin(cors, origin)
    if allow_origin is None:
        return []
    out: list[Header] = [("Access-Control-Allow-Origin", allow_origin)]
    if cors.get("AllowCredentials") is True:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if cors.get("ExposeHeaders"):
        out.append(("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"])))
    if allow_origin != "*":
        out.append(("Vary", "Origin"))
    return out


def _allowed_origin(cors: dict, origin: str) -> str | None:
    """The Access-Control-Allow-Origin value for this origin, or None when it isn't allowed.

    A listed origin is echoed. '*' answers '*' without credentials; with credentials a browser ignores
    '*', so AWS echoes the caller's origin instead (the configuration asked for every origin).
    """
    allowed = cors.get("AllowOrigins") or []
    if any(entry != "*" and entry.lower() == origin.lower() for entry in allowed):
        return origin
    if "*" in allowed:
        return origin if cors.get("AllowCredentials") is True else "*"
    return None


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
