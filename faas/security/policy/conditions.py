"""Condition operators (StringEquals, ArnLike, Bool...) and whether a statement's Condition holds
for a request's context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from faas.security.policy.matching import _arn_matcher, _resource_matcher


def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_like(pattern: str, value: str) -> bool:
    return _resource_matcher(pattern)(value)


def _arn_like(pattern: str, value: str) -> bool:
    return _arn_matcher(pattern)(value)


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


# operator (lower-cased) -> (value test, negated). ArnEquals takes wildcards too, as in IAM.
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "bool": (_bool, False),
}


def _conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """`context` has lower-cased keys: condition keys are case-insensitive (AWS:SourceArn, aws:SourceArn)."""
    for operator, tests in condition.items():
        try:
            test, negated = _OPERATORS[operator.lower()]
        except KeyError:
            raise ValueError(f"unsupported condition operator {operator!r}") from None
        for key, wanted in tests.items():
            value = context.get(key.lower())
            if value is None:
                if negated:  # IAM: a negated operator holds when the key is absent
                    continue
                return False
            hit = any(test(w, value) for w in ((wanted,) if isinstance(wanted, str) else wanted))
            if hit == negated:
                return False
    return True
