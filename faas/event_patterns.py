"""AWS's event-pattern language: compile a pattern once, check it fully, then match events against it.

One matcher serves Lambda's FilterCriteria (dialect "lambda"), SNS's FilterPolicy (dialect "sns") and
EventBridge rules (dialect "events"); the dialects differ only in which operators and limits they accept.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from faas.errors import InvalidEventPattern

# The operators (a matcher object's one key, or anything-but's object's one key) each dialect accepts.
# Lambda's filtering is EventBridge Pipes' subset (no anything-but objects, no wildcard, no cidr);
# SNS has its own list (cidr, anything-but with prefix or suffix, no ignore-case prefix or suffix).
OPERATORS = {
    "lambda": {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"},
    "sns": {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr"},
    "events": {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr", "wildcard"},
}
ANYTHING_BUT_OPERATORS = {
    "lambda": set(),
    "sns": {"prefix", "suffix"},
    "events": {"prefix", "suffix", "equals-ignore-case", "wildcard"},
}
IGNORE_CASE_AFFIXES = {"lambda": True, "sns": False, "events": True}  # {"prefix": {"equals-ignore-case": s}}

# Size of the pattern's JSON text: Lambda's Filter.Pattern is at most 4,096 characters, an SNS filter
# policy 256 KB, an EventBridge EventPattern 4,096 (its quota, 2,048 by default, can be raised to that).
MAX_PATTERN_CHARS = {"lambda": 4096, "sns": 256 * 1024, "events": 4096}
SNS_MAX_KEYS = 5
SNS_MAX_COMBINATIONS = 150
SNS_NUMBER_LIMIT = 1_000_000_000  # SNS: numbers within ±10^9, with five digits after the point
SNS_DECIMALS = 5
EVENTS_NUMBER_LIMIT = 5_000_000_000  # EventBridge: numeric matching between -5e9 and 5e9
MAX_DEPTH = 32  # our own bound on nested objects and $or, so a hostile pattern cannot exhaust the stack
MAX_WILDCARD_STARS = 32  # our own bound; the matcher is linear anyway, this keeps patterns readable

Matcher = Callable[[Any], bool]  # tests one leaf value of the event (never a list, never an object)
MISSING = object()


@dataclass(frozen=True)
class Pattern:
    """A checked pattern. `nested` says whether it descends into objects (SNS refuses that for attributes)."""

    dialect: str
    _root: Callable[[Any], bool]
    nested: bool

    def matches(self, event: Any) -> bool:
        return isinstance(event, dict) and self._root(event)


def compile_pattern(document: Any, dialect: str = "lambda") -> Pattern:
    """Check `document` (the parsed JSON object, or its JSON text) against `dialect`'s rules and compile it.

    Raises InvalidEventPattern naming the offending key path."""
    if dialect not in OPERATORS:
        raise ValueError(f"unknown event-pattern dialect {dialect!r}")
    if isinstance(document, str):
        text = document
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise InvalidEventPattern(f"the pattern is not valid JSON: {exc}") from exc
    else:
        text = json.dumps(document, separators=(",", ":"))
    if len(text) > MAX_PATTERN_CHARS[dialect]:
        limit = MAX_PATTERN_CHARS[dialect]
        raise InvalidEventPattern(f"the pattern is {len(text)} characters long; at most {limit} are allowed")
    if not isinstance(document, dict):
        raise InvalidEventPattern("the pattern must be a JSON object")
    compiler = _Compiler(dialect)
    root = compiler.object(document, path=(), depth=0)
    if dialect == "sns":
        keys = set(_leaf_paths(document, ()))
        if len(keys) > SNS_MAX_KEYS:
            raise InvalidEventPattern(f"the filter policy has {len(keys)} keys; at most {SNS_MAX_KEYS} are allowed")
        combinations = _combinations(document)
        if combinations > SNS_MAX_COMBINATIONS:
            raise InvalidEventPattern(
                f"the filter policy has {combinations} combinations of values; at most {SNS_MAX_COMBINATIONS} are allowed"
            )
    return Pattern(dialect, root, compiler.nested)


def _name(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "the pattern"


class _Compiler:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.nested = False

    def fail(self, path: tuple[str, ...], message: str) -> InvalidEventPattern:
        return InvalidEventPattern(f"{_name(path)}: {message}")

    def object(self, node: dict, path: tuple[str, ...], depth: int) -> Callable[[dict], bool]:
        if depth > MAX_DEPTH:
            raise self.fail(path, f"nested more than {MAX_DEPTH} levels deep")
        if not node:
            raise self.fail(path, "an object in a pattern must have at least one key")
        checks: list[Callable[[dict], bool]] = []
        for key, value in node.items():
            key_path = (*path, key)
            if key == "$or":
                checks.append(self.any_of(value, key_path, depth))
            elif isinstance(value, dict):
                self.nested = True
                checks.append(_descend(key, self.object(value, key_path, depth + 1)))
            elif isinstance(value, list):
                checks.append(_leaf(key, *self.matchers(value, key_path)))
            else:
                raise self.fail(key_path, "must be an array of values to match or an object; found " + _kind(value))
        return lambda event: all(check(event) for check in checks)

    def any_of(self, value: Any, path: tuple[str, ...], depth: int) -> Callable[[dict], bool]:
        if not isinstance(value, list) or len(value) < 2 or not all(isinstance(branch, dict) for branch in value):
            raise self.fail(path, "$or must be an array of at least two pattern objects")
        branches = [self.object(branch, (*path[:-1], f"$or[{index}]"), depth + 1) for index, branch in enumerate(value)]
        return lambda event: any(branch(event) for branch in branches)

    def matchers(self, values: list, path: tuple[str, ...]) -> tuple[list[Matcher], set[bool]]:
        """The leaf matchers, and the presence of the field that matches by itself ({"exists": ...})."""
        if not values:
            raise self.fail(path, "an array of values to match must not be empty")
        matchers: list[Matcher] = []
        exists: set[bool] = set()
        for value in values:
            if isinstance(value, dict):
                if set(value) == {"exists"}:
                    if not isinstance(value["exists"], bool):
                        raise self.fail(path, "exists must be true or false")
                    exists.add(value["exists"])
                    continue
                matchers.append(self.operator(value, path))
            elif isinstance(value, list):
                raise self.fail(path, "an array of values to match cannot contain arrays")
            else:
                matchers.append(self.exact(value, path))
        return matchers, exists

    def exact(self, value: Any, path: tuple[str, ...]) -> Matcher:
        if _is_number(value):
            self.check_number(value, path)
            return lambda actual: _is_number(actual) and actual == value
        if value is None or isinstance(value, bool):
            return lambda actual: actual is value
        return lambda actual: isinstance(actual, str) and actual == value

    def check_number(self, value: float, path: tuple[str, ...], numeric: bool = False) -> None:
        if not math.isfinite(value):
            raise self.fail(path, "numbers must be finite")
        if self.dialect == "sns":
            if abs(value) > SNS_NUMBER_LIMIT:
                raise self.fail(path, f"number {value} is outside -1000000000..1000000000")
            if isinstance(value, float) and round(value, SNS_DECIMALS) != value:
                raise self.fail(path, f"number {value} has more than {SNS_DECIMALS} digits after the decimal point")
        elif self.dialect == "events" and numeric and abs(value) > EVENTS_NUMBER_LIMIT:
            raise self.fail(path, f"number {value} is outside -5000000000..5000000000")

    def operator(self, value: dict, path: tuple[str, ...]) -> Matcher:
        if len(value) != 1:
            raise self.fail(path, f"a matcher object must have exactly one key; found {sorted(value)}")
        ((name, argument),) = value.items()
        if name not in OPERATORS[self.dialect]:
            raise self.fail(path, f"unsupported operator {name!r} in a {self.dialect} pattern")
        op_path = (*path, name)
        if name == "prefix" or name == "suffix":
            return self.affix(name, argument, op_path)
        if name == "equals-ignore-case":
            folded = self.string(argument, op_path).casefold()
            return lambda actual: isinstance(actual, str) and actual.casefold() == folded
        if name == "anything-but":
            return self.anything_but(argument, op_path)
        if name == "numeric":
            return self.numeric(argument, op_path)
        if name == "cidr":
            return self.cidr(argument, op_path)
        return self.wildcard(argument, op_path)

    def string(self, argument: Any, path: tuple[str, ...]) -> str:
        if not isinstance(argument, str):
            raise self.fail(path, "must be a string; found " + _kind(argument))
        return argument

    def affix(self, name: str, argument: Any, path: tuple[str, ...]) -> Matcher:
        fold = False
        if isinstance(argument, dict) and set(argument) == {"equals-ignore-case"}:
            if not IGNORE_CASE_AFFIXES[self.dialect]:
                raise self.fail(path, f"equals-ignore-case inside {name} is not supported in a {self.dialect} pattern")
            argument, fold, path = argument["equals-ignore-case"], True, (*path, "equals-ignore-case")
        text = self.string(argument, path)
        test = str.startswith if name == "prefix" else str.endswith
        if fold:
            folded = text.casefold()
            return lambda actual: isinstance(actual, str) and test(actual.casefold(), folded)
        return lambda actual: isinstance(actual, str) and test(actual, text)

    def anything_but(self, argument: Any, path: tuple[str, ...]) -> Matcher:
        if isinstance(argument, dict):
            if len(argument) != 1:
                raise self.fail(path, "anything-but's object must have exactly one key")
            ((name, inner),) = argument.items()
            if name not in ANYTHING_BUT_OPERATORS[self.dialect]:
                raise self.fail(path, f"unsupported operator {name!r} inside anything-but in a {self.dialect} pattern")
            inner_path = (*path, name)
            if name == "equals-ignore-case":
                folded = {text.casefold() for text in self.strings(inner, inner_path)}
                return lambda actual: isinstance(actual, str) and actual.casefold() not in folded
            if name == "wildcard":
                globs = [self.glob(text, inner_path) for text in self.strings(inner, inner_path)]
                return lambda actual: isinstance(actual, str) and not any(glob(actual) for glob in globs)
            text = self.string(inner, inner_path)
            test = str.startswith if name == "prefix" else str.endswith
            return lambda actual: isinstance(actual, str) and not test(actual, text)
        values = argument if isinstance(argument, list) else [argument]
        if not values:
            raise self.fail(path, "anything-but's array must not be empty")
        if all(isinstance(value, str) for value in values):
            excluded = set(values)
            return lambda actual: actual is not None and not (isinstance(actual, str) and actual in excluded)
        if all(_is_number(value) for value in values):
            for value in values:
                self.check_number(value, path)
            return lambda actual: actual is not None and not (_is_number(actual) and actual in values)
        raise self.fail(
            path, "anything-but takes a string, a number, an array of only strings or only numbers, or an object"
        )

    def strings(self, argument: Any, path: tuple[str, ...]) -> list[str]:
        values = argument if isinstance(argument, list) else [argument]
        if not values:
            raise self.fail(path, "the array must not be empty")
        return [self.string(value, path) for value in values]

    def numeric(self, argument: Any, path: tuple[str, ...]) -> Matcher:
        if not isinstance(argument, list) or len(argument) not in (2, 4):
            raise self.fail(path, "numeric takes one or two [operator, number] pairs, e.g. [\">\", 0, \"<=\", 5]")
        lower: tuple[str, float] | None = None
        upper: tuple[str, float] | None = None
        equal: float | None = None
        for operator, number in zip(argument[::2], argument[1::2]):
            if not _is_number(number):
                raise self.fail(path, f"{operator!r} must be followed by a number; found " + _kind(number))
            self.check_number(number, path, numeric=True)
            if operator == "=":
                if len(argument) != 2:
                    raise self.fail(path, "'=' cannot be combined with another comparison")
                equal = number
            elif operator in (">", ">="):
                if lower is not None:
                    raise self.fail(path, "at most one lower bound ('>' or '>=')")
                lower = (operator, number)
            elif operator in ("<", "<="):
                if upper is not None:
                    raise self.fail(path, "at most one upper bound ('<' or '<=')")
                upper = (operator, number)
            else:
                raise self.fail(path, f"unknown comparison {operator!r}; use =, <, <=, > or >=")
        if equal is not None:
            return lambda actual: _is_number(actual) and actual == equal
        if lower and upper:
            empty = lower[1] > upper[1] or (lower[1] == upper[1] and (lower[0] == ">" or upper[0] == "<"))
            if empty:
                raise self.fail(path, f"the range {lower[0]} {lower[1]} and {upper[0]} {upper[1]} is empty")

        def within(actual: Any) -> bool:
            if not _is_number(actual):
                return False
            if lower and not (actual > lower[1] if lower[0] == ">" else actual >= lower[1]):
                return False
            return not upper or (actual < upper[1] if upper[0] == "<" else actual <= upper[1])

        return within

    def cidr(self, argument: Any, path: tuple[str, ...]) -> Matcher:
        try:
            network = ipaddress.ip_network(self.string(argument, path), strict=False)
        except ValueError as exc:
            raise self.fail(path, f"{argument!r} is not an IP address or CIDR block") from exc

        def inside(actual: Any) -> bool:
            if not isinstance(actual, str):
                return False
            try:
                return ipaddress.ip_address(actual) in network
            except ValueError:
                return False

        return inside

    def wildcard(self, argument: Any, path: tuple[str, ...]) -> Matcher:
        glob = self.glob(self.string(argument, path), path)
        return lambda actual: isinstance(actual, str) and glob(actual)

    def glob(self, text: str, path: tuple[str, ...]) -> Callable[[str], bool]:
        """A `*` glob (`\\*` a literal star, `\\\\` a backslash) matched without building a regex from input."""
        segments = [""]
        escaped = False
        for char in text:
            if escaped:
                if char not in "*\\":
                    raise self.fail(path, "in a wildcard only * and \\ may follow a backslash")
                segments[-1] += char
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "*":
                if len(segments) > 1 and segments[-1] == "":
                    raise self.fail(path, "a wildcard cannot contain consecutive *")
                segments.append("")
            else:
                segments[-1] += char
        if escaped:
            raise self.fail(path, "a wildcard cannot end with a lone backslash")
        if len(segments) - 1 > MAX_WILDCARD_STARS:
            raise self.fail(path, f"a wildcard may contain at most {MAX_WILDCARD_STARS} *")
        return lambda actual: _glob_matches(segments, actual)


def _glob_matches(segments: list[str], text: str) -> bool:
    """Whether `text` is segments[0] * segments[1] * ... * segments[-1].

    Taking each middle segment at its leftmost place after the previous one is always right for `*`-only
    globs, so one pass over the text with str.find decides it: no backtracking, no regex."""
    if len(segments) == 1:
        return text == segments[0]
    first, *middle, last = segments
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for segment in middle:
        found = text.find(segment, position, end)
        if found < 0:
            return False
        position = found + len(segment)
    return True


def _leaf(key: str, matchers: list[Matcher], exists: set[bool]) -> Callable[[dict], bool]:
    """A field's test: any matcher against the value or, for an array, against any of its elements."""

    def test(event: dict) -> bool:
        leaves = list(_leaves(event.get(key, MISSING)))
        if bool(leaves) in exists:
            return True
        return any(matcher(leaf) for leaf in leaves for matcher in matchers)

    return test


def _leaves(value: Any) -> Iterator[Any]:
    """The leaf values a field holds: itself, or the elements of (nested) arrays; objects are no leaves."""
    return (element for element in _flatten(value) if not isinstance(element, dict))


def _flatten(value: Any) -> Iterator[Any]:
    """A value, or the elements of its (nested) arrays in order: with a stack, since an event's arrays may
    nest deeper than Python's recursion limit."""
    stack = [iter([value])]
    while stack:
        for element in stack[-1]:
            if isinstance(element, list):
                stack.append(iter(element))
                break
            if element is not MISSING:
                yield element
        else:
            stack.pop()


def _descend(key: str, sub_pattern: Callable[[dict], bool]) -> Callable[[dict], bool]:
    """A nested object's test; an array of objects matches when one element matches the whole sub-pattern."""

    def test(event: dict) -> bool:
        return any(sub_pattern(element) for element in _objects(event.get(key, MISSING)))

    return test


def _objects(value: Any) -> Iterator[dict]:
    return (element for element in _flatten(value) if isinstance(element, dict))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _leaf_paths(node: dict, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for key, value in node.items():
        if key == "$or":
            for branch in value:
                yield from _leaf_paths(branch, path)
        elif isinstance(value, dict):
            yield from _leaf_paths(value, (*path, key))
        else:
            yield (*path, key)


def _combinations(node: dict) -> int:
    """SNS's complexity: the product of the array sizes, where each $or adds up its branches."""
    total = 1
    for key, value in node.items():
        if key == "$or":
            total *= sum(_combinations(branch) for branch in value)
        elif isinstance(value, dict):
            total *= _combinations(value)
        else:
            total *= len(value)
    return total
