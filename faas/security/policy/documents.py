"""Identity policy documents: validating one and returning it normalised (`parse_document`)."""

from __future__ import annotations

import json
import re
from typing import Any

from faas.errors import InvalidParameterValue

ALLOW, DENY, NO_MATCH = "Allow", "Deny", "NoMatch"

VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2012-10-17"

_DOCUMENT_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"})
# What an identity policy cannot have here, with the reason the user sees.
_REFUSED_KEYS = {
    "Principal": "is not allowed in an identity policy",
    "NotPrincipal": "is not allowed in an identity policy",
    # evaluate() has no request context, so a condition could only be ignored, widening an Allow.
    "Condition": "is not supported in identity policies",
}
_IAM_ACTION = re.compile(r"\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+")


def _invalid(message: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid policy document: {message}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two "Effect" keys; a reviewer reading the text may see the first.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _invalid(f"the key {key!r} appears twice in one object")
        obj[key] = value
    return obj


def parse_document(document: str | dict, *, max_bytes: int | None = None) -> dict:
    """Validate an identity policy document (JSON text or a dict) and return it normalised.

    The result is a new dict: {"Version", ["Id",] "Statement": [...]}, each statement with "Effect",
    an optional "Sid", and lists under exactly one of Action/NotAction and one of Resource/NotResource.
    Raises InvalidParameterValue naming the statement and field at fault.
    """
    if isinstance(document, str):
        if max_bytes is not None and len(document.encode("utf-8", "surrogatepass")) > max_bytes:
            raise _invalid(f"the document is larger than {max_bytes} bytes")
        try:
            document = json.loads(document, object_pairs_hook=_no_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            raise _invalid(f"not valid JSON ({exc})") from exc
    elif isinstance(document, dict):
        if max_bytes is not None:
            try:
                size = len(json.dumps(document, separators=(",", ":")).encode("utf-8", "surrogatepass"))
            except (TypeError, ValueError, RecursionError) as exc:
                raise _invalid(f"not representable as JSON ({exc})") from exc
            if size > max_bytes:
                raise _invalid(f"the document is larger than {max_bytes} bytes")
    else:
        raise _invalid(f"expected JSON text or an object, got {type(document).__name__}")

    if not isinstance(document, dict):
        raise _invalid(f"the document must be a JSON object, got {_json_type(document)}")
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        raise _invalid(f"unknown top-level field(s) {', '.join(map(repr, unknown))}")

    version = document.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise _invalid(f"Version must be one of {', '.join(VERSIONS)}, got {version!r}")
    normalised: dict[str, Any] = {"Version": version}
    if "Id" in document:
        if not isinstance(document["Id"], str):
            raise _invalid(f"Id must be a string, got {_json_type(document['Id'])}")
        normalised["Id"] = document["Id"]

    if "Statement" not in document:
        raise _invalid("Statement is missing")
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise _invalid(f"Statement must be an object or a list of objects, got {_json_type(statements)}")
    if not statements:
        raise _invalid("Statement is empty")

    parsed = [_parse_statement(index, statement) for index, statement in enumerate(statements)]
    seen: set[str] = set()
    for sid in (statement["Sid"] for statement in parsed if "Sid" in statement):
        if sid in seen:
            raise _invalid(f"Sid {sid!r} is used by more than one statement")
        seen.add(sid)
    normalised["Statement"] = parsed
    return normalised


def _parse_statement(index: int, statement: Any) -> dict[str, Any]:
    where = f"Statement[{index}]"
    if not isinstance(statement, dict):
        raise _invalid(f"{where} must be an object, got {_json_type(statement)}")
    for key, reason in _REFUSED_KEYS.items():
        if key in statement:
            raise _invalid(f"{where}.{key} {reason}")
    unknown = sorted(set(statement) - _STATEMENT_KEYS)
    if unknown:
        raise _invalid(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")

    parsed: dict[str, Any] = {}
    if "Sid" in statement:
        if not isinstance(statement["Sid"], str):
            raise _invalid(f"{where}.Sid must be a string, got {_json_type(statement['Sid'])}")
        parsed["Sid"] = statement["Sid"]

    if "Effect" not in statement:
        raise _invalid(f"{where}.Effect is missing")
    if statement["Effect"] not in (ALLOW, DENY):
        raise _invalid(f"{where}.Effect must be \"Allow\" or \"Deny\", got {statement['Effect']!r}")
    parsed["Effect"] = statement["Effect"]

    key, values = _one_of(statement, where, "Action", "NotAction")
    for i, action in enumerate(values):
        if not _IAM_ACTION.fullmatch(action):
            raise _invalid(f"{where}.{key}[{i}] must be \"*\" or \"service:action\", got {action!r}")
    parsed[key] = values

    key, values = _one_of(statement, where, "Resource", "NotResource")
    for i, resource in enumerate(values):
        if resource != "*" and not resource.startswith("arn:"):
            raise _invalid(f"{where}.{key}[{i}] must be \"*\" or an ARN, got {resource!r}")
        if "${" in resource:
            # Policy variables are not expanded here; matching "${aws:username}" literally would be wrong.
            raise _invalid(f"{where}.{key}[{i}] uses a policy variable, which is not supported")
    parsed[key] = values
    return parsed


def _one_of(statement: dict, where: str, key: str, not_key: str) -> tuple[str, list[str]]:
    if key in statement and not_key in statement:
        raise _invalid(f"{where} has both {key} and {not_key}; use one")
    if key not in statement and not_key not in statement:
        raise _invalid(f"{where}.{key} is missing (or give {not_key})")
    key = key if key in statement else not_key
    value = statement[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid(f"{where}.{key} must be a string or a list of strings, got {_json_type(value)}")
    if not values:
        raise _invalid(f"{where}.{key} is an empty list")
    return key, list(values)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
