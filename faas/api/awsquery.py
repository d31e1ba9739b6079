"""AWS's query protocol, for services that spoke it before their JSON protocol (SQS; older SDKs and the
AWS CLI v2 before 2.13 still send it): a form-encoded `POST /` with `Action=<Operation>`, whose service is
the one its SigV4 credential scope names. Parameters arrive flattened (`Attribute.1.Name`,
`SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType`) and are turned into the JSON
protocol's shape, so one handler serves both; answers and errors are XML.

What the flattened names are called differs per service: each service describes them in a QueryShapes.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from faas.api.awsjson import SERVICES, JsonService, Operation, scope_service
from faas.api.body import BODY
from faas.errors import ApiError, UnknownOperation, UnrecognizedClient

FORM = "application/x-www-form-urlencoded"


@dataclasses.dataclass(frozen=True)
class QueryShapes:
    xml_namespace: str
    # A flattened map's name in the query, as (its member in the JSON shape, the entry's key, its value).
    maps: dict[str, tuple[str, str, str]]
    # A flattened list's name in the query, as its member in the JSON shape.
    lists: dict[str, str]
    # Per operation, a member whose name differs from the one `maps` or `lists` gives (CreateQueue's `tags`).
    renamed: dict[str, dict[str, str]]
    # Answers: a list member's element name (None: "<Operation>ResultEntry"), a map member's (entry, key, value).
    list_elements: dict[str, str | None]
    map_elements: dict[str, tuple[str, str, str]]
    # SNS's style rather than SQS's: lists and maps are not flattened but wrapped, in the query as
    # `Tags.member.1.Key` and `Attributes.entry.1.key`, in answers as `<Topics><member>...</member></Topics>`
    # and `<Attributes><entry><key/><value/></entry></Attributes>`.
    wrapped: bool = False


def speaks_query(request: web.Request) -> bool:
    return request.method == "POST" and request.path == "/" and request.content_type == FORM \
        and "X-Amz-Target" not in request.headers


def service_of(request: web.Request) -> JsonService | None:
    """The service a query-protocol request is for: the one its credential scope names."""
    if not speaks_query(request):
        return None
    scope = scope_service(request)
    return next((service for service in request.app.get(SERVICES, {}).values()
                 if service.signing_name == scope and service.query is not None), None)


@dataclasses.dataclass(frozen=True)
class Pending:
    """A query-protocol request before its body is read: authenticated as a call to its service; the
    operation it authorises is the one the authenticated body's Action names (`resolve_body`)."""

    service: JsonService
    body_limit: int
    action: str
    audited: bool = True
    open: bool = False
    resource_of: None = None

    def resolve_body(self, request: web.Request) -> Operation:
        name = form(request).get("Action", "")
        handler = self.service.operations.get(name)
        if handler is None:
            raise UnknownOperation(f"{self.service.target_prefix} has no operation {name[:128]!r}")
        return handler


def pending(request: web.Request) -> Pending:
    service = service_of(request)
    if service is None:
        raise UnrecognizedClient("A query-protocol request (Action=...) must be SigV4-signed with a credential scope "
                                 "naming a service that speaks it (sqs, sns)")
    limit = max(getattr(handler, "body_limit", 0) for handler in service.operations.values())
    return Pending(service, limit, f"{service.signing_name}:*")


def form(request: web.Request) -> dict[str, str]:
    body = request.get(BODY, b"")
    fields = dict(urllib.parse.parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    return {**dict(request.query), **fields}


def params_of(request: web.Request, shapes: QueryShapes, operation: str) -> dict[str, Any]:
    """The flattened form as the JSON protocol's parameters."""
    tree: dict[str, Any] = {}
    for key, value in form(request).items():
        if key in ("Action", "Version") or key.startswith("X-Amz-"):
            continue
        node = tree
        *path, last = key.split(".")
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(last, value)
    return _members(tree, shapes, shapes.renamed.get(operation, {}))


def _ordered(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return []
    return [node[index] for index in sorted((k for k in node if k.isdigit()), key=int)]


def _members(tree: dict[str, Any], shapes: QueryShapes, renamed: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, node in tree.items():
        if key in shapes.maps:
            member, key_name, value_name = shapes.maps[key]
            params[renamed.get(key, member)] = {
                entry.get(key_name): _value(entry.get(value_name), shapes) for entry in _ordered(node)
                if isinstance(entry, dict)}
        elif key in shapes.lists:
            params[renamed.get(key, shapes.lists[key])] = [_value(item, shapes) for item in _ordered(node)]
        else:
            params[key] = _value(node, shapes)
    return params


def _value(node: Any, shapes: QueryShapes) -> Any:
    if not isinstance(node, dict):
        return node
    if shapes.wrapped and set(node) == {"member"}:
        return [_value(item, shapes) for item in _ordered(node["member"])]
    if shapes.wrapped and set(node) == {"entry"}:
        return {_first(entry, "key", "Name"): _value(_first(entry, "value", "Value"), shapes)
                for entry in _ordered(node["entry"]) if isinstance(entry, dict)}
    return _members(node, shapes, {})


def _first(entry: dict[str, Any], *names: str) -> Any:
    return next((entry[name] for name in names if name in entry), None)


def response(service: JsonService, operation: str, result: dict[str, Any], request_id: str) -> web.Response:
    shapes: QueryShapes = service.query
    inner = "".join(_element(name, value, shapes, operation) for name, value in result.items())
    body = (f'<?xml version="1.0"?><{operation}Response xmlns="{shapes.xml_namespace}">'
            + f"<{operation}Result>{inner}</{operation}Result>"  # botocore expects it, empty or not
            + f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>")
    return web.Response(body=body.encode(), content_type="text/xml")


def _element(name: str, value: Any, shapes: QueryShapes, operation: str) -> str:
    if isinstance(value, dict) and name in shapes.map_elements:
        entry, key_name, value_name = shapes.map_elements[name]
        entries = "".join(f"<{entry}><{key_name}>{escape(str(k))}</{key_name}>"
                          f"{_element(value_name, v, shapes, operation)}</{entry}>" for k, v in value.items())
        return f"<{name}>{entries}</{name}>" if shapes.wrapped else entries
    if isinstance(value, list):
        if shapes.wrapped:
            return f"<{name}>" + "".join(_element("member", item, shapes, operation) for item in value) + f"</{name}>"
        element = shapes.list_elements.get(name) or f"{operation}ResultEntry"
        return "".join(_element(element, item, shapes, operation) for item in value)
    if isinstance(value, dict):
        inner = "".join(_element(k, v, shapes, operation) for k, v in value.items())
        return f"<{name}>{inner}</{name}>"
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(text)}</{name}>"


def error_response(service: JsonService, error: ApiError, request_id: str) -> web.Response:
    code = getattr(error, "query_code", "") or service.common_codes.get(error.code, error.code)
    fault = "Sender" if error.status < 500 else "Receiver"
    body = (f'<?xml version="1.0"?><ErrorResponse xmlns="{service.query.xml_namespace}"><Error><Type>{fault}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(error.message)}</Message><Detail/></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    return web.Response(status=error.status, body=body.encode(), content_type="text/xml",
                        headers={"x-amzn-RequestId": request_id})
