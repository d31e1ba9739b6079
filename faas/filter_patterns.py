"""CloudWatch Logs filter patterns, compiled once to a test of one log event's message.

Two forms, as CloudWatch Logs has them:
- terms: `ERROR`, `"quoted phrase"`, `?ERROR ?WARN` (any of them), `-DEBUG` (none of them). An event matches
  when it contains every plain term, at least one `?` term (when there are any) and no `-` term; matching is
  case-sensitive, on substrings. An empty pattern matches everything.
- JSON: `{ $.level = "ERROR" }`, for events whose message is a JSON object. A selector (`$.a.b`, `$.list[0]`)
  is compared with `=` or `!=` to a string (quoted, or a bare word; `*` is a wildcard) or a number, with
  `<`, `>`, `<=`, `>=` to a number, or tested with `IS TRUE`, `IS FALSE`, `IS NULL`, `NOT EXISTS`;
  comparisons combine with `&&`, `||` and parentheses.
CloudWatch's space-delimited patterns (`[ip, user, ...]`) are refused as unsupported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from faas.errors import InvalidFilterPattern

MAX_PATTERN_CHARS = 1024  # FilterPattern's length in the Logs model
MAX_DEPTH = 32  # our own bound on nested parentheses, so a hostile pattern cannot exhaust the stack

Matcher = Callable[[str], bool]
_MISSING = object()


def compile_pattern(pattern: str) -> Matcher:
    """A test of a message, or InvalidFilterPattern saying what is wrong with the pattern."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidFilterPattern(f"The filter pattern is longer than {MAX_PATTERN_CHARS} characters")
    text = pattern.strip()
    if text.startswith("{"):
        return _JsonParser(text).parse()
    if text.startswith("["):
        raise InvalidFilterPattern("Space-delimited filter patterns ([...]) are not supported: use terms or a JSON "
                                   "pattern")
    return _terms(text)


# -- terms ---------------------------------------------------------------------------------------------------


def _terms(text: str) -> Matcher:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        kind = required
        if text[i] in "?-":
            kind = optional if text[i] == "?" else excluded
            i += 1
        if i < len(text) and text[i] == '"':
            term, i = _quoted(text, i)
        else:
            start = i
            while i < len(text) and not text[i].isspace():
                if text[i] in '"{}[]':
                    raise InvalidFilterPattern(f"Unexpected {text[i]!r} at position {i + 1} of the filter pattern: "
                                               "quote terms that contain it")
                i += 1
            term = text[start:i]
        if not term:
            raise InvalidFilterPattern(f"Empty term at position {i} of the filter pattern")
        kind.append(term)

    def matches(message: str) -> bool:
        return (all(term in message for term in required)
                and (not optional or any(term in message for term in optional))
                and not any(term in message for term in excluded))
    return matches


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The string quoted at text[i] (backslash escapes `"` and itself), and the index after its closing quote."""
    out: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise InvalidFilterPattern("Unterminated quoted string in the filter pattern")


# -- JSON patterns --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<selector>\$(?:\.[A-Za-z0-9_@:\-]+|\[\d+\])*)
  | (?P<word>[^\s()&|=!<>{}"]+)
)""", re.VERBOSE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class _JsonParser:
    """Recursive descent over the tokens of `{ ... }`: or := and ('||' and)*; and := unary ('&&' unary)*;
    unary := '(' or ')' | selector test."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._at = 0

    def parse(self) -> Matcher:
        self._expect("{")
        test = self._or(0)
        self._expect("}")
        if self._at != len(self._tokens):
            raise InvalidFilterPattern("Unexpected text after the closing } of the JSON filter pattern")

        def matches(message: str) -> bool:
            if not message.lstrip().startswith("{"):  # not a JSON object: no need to parse it to know
                return False
            try:
                document = json.loads(message)
            except ValueError:
                return False
            return isinstance(document, dict) and test(document)
        return matches

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _next(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise InvalidFilterPattern(f"The JSON filter pattern ends where {what} should be")
        self._at += 1
        return token

    def _expect(self, op: str) -> None:
        kind, value = self._next(repr(op))
        if (kind, value) != ("op", op):
            raise InvalidFilterPattern(f"Expected {op!r} in the JSON filter pattern, found {value!r}")

    def _or(self, depth: int) -> Callable[[Any], bool]:
        tests = [self._and(depth)]
        while self._peek() == ("op", "||"):
            self._at += 1
            tests.append(self._and(depth))
        return tests[0] if len(tests) == 1 else lambda doc: any(test(doc) for test in tests)

    def _and(self, depth: int) -> Callable[[Any], bool]:
        tests = [self._unary(depth)]
        while self._peek() == ("op", "&&"):
            self._at += 1
            tests.append(self._unary(depth))
        return tests[0] if len(tests) == 1 else lambda doc: all(test(doc) for test in tests)

    def _unary(self, depth: int) -> Callable[[Any], bool]:
        if depth > MAX_DEPTH:
            raise InvalidFilterPattern(f"The JSON filter pattern nests more than {MAX_DEPTH} parentheses")
        kind, value = self._next("a selector such as $.level")
        if (kind, value) == ("op", "("):
            test = self._or(depth + 1)
            self._expect(")")
            return test
        if kind != "selector":
            raise InvalidFilterPattern(f"Expected a selector such as $.level in the JSON filter pattern, found "
                                       f"{value!r}")
        return self._test(_path(value))

    def _test(self, path: list[str | int]) -> Callable[[Any], bool]:
        kind, value = self._next("an operator")
        if kind == "word" and value.upper() in ("IS", "NOT"):
            return self._keyword(path, value.upper())
        if kind != "op" or value not in ("=", "!=", "<", ">", "<=", ">="):
            raise InvalidFilterPattern(f"Expected an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS) in the JSON "
                                       f"filter pattern, found {value!r}")
        operator = value
        kind, raw = self._next("a value")
        if kind not in ("quoted", "word"):
            raise InvalidFilterPattern(f"Expected a value after {operator} in the JSON filter pattern, found {raw!r}")
        if kind == "word" and _NUMBER.fullmatch(raw):
            return _numeric(path, operator, float(raw))
        if operator not in ("=", "!="):
            raise InvalidFilterPattern(f"{operator} compares numbers: {raw!r} is not a number")
        text = json.loads(raw) if kind == "quoted" else raw
        return _string(path, text, equal=operator == "=")

    def _keyword(self, path: list[str | int], first: str) -> Callable[[Any], bool]:
        _, second = self._next(f"a word after {first}")
        if first == "NOT":
            if second.upper() != "EXISTS":
                raise InvalidFilterPattern(f"Expected EXISTS after NOT in the JSON filter pattern, found {second!r}")
            return lambda doc: _select(doc, path) is _MISSING
        wanted = {"TRUE": True, "FALSE": False, "NULL": None}
        if second.upper() not in wanted:
            raise InvalidFilterPattern(f"Expected TRUE, FALSE or NULL after IS in the JSON filter pattern, found "
                                       f"{second!r}")
        expected = wanted[second.upper()]
        return lambda doc: _select(doc, path) is expected


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None:
            raise InvalidFilterPattern(f"Unexpected {text[at:].strip()[:20]!r} in the JSON filter pattern")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


def _path(selector: str) -> list[str | int]:
    if selector == "$":
        raise InvalidFilterPattern("A selector names a field: $.name, $.a.b or $.list[0]")
    steps: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector):
        steps.append(name if name else int(index))
    return steps


def _select(document: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, str) and isinstance(document, dict) and step in document:
            document = document[step]
        elif isinstance(step, int) and isinstance(document, list) and step < len(document):
            document = document[step]
        else:
            return _MISSING
    return document


def _numeric(path: list[str | int], operator: str, number: float) -> Callable[[Any], bool]:
    compare = {"=": float.__eq__, "!=": float.__ne__, "<": float.__lt__, ">": float.__gt__, "<=": float.__le__,
               ">=": float.__ge__}[operator]

    def test(document: Any) -> bool:
        value = _select(document, path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return compare(float(value), number)
    return test


def _string(path: list[str | int], text: str, *, equal: bool) -> Callable[[Any], bool]:
    # `*` is CloudWatch's only wildcard; everything else is literal.
    regex = re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)

    def test(document: Any) -> bool:
        value = _select(document, path)
        if not isinstance(value, str):
            return False
        return bool(regex.fullmatch(value)) == equal
    return test
