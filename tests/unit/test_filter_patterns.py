"""CloudWatch Logs filter patterns: terms, quoted phrases, ? alternatives, - exclusions and JSON patterns, and a
clear refusal of each malformed pattern."""

from __future__ import annotations

import json

import pytest

from faas.errors import InvalidFilterPattern
from faas.filter_patterns import MAX_DEPTH, MAX_PATTERN_CHARS, compile_pattern

REPORT = "REPORT RequestId: 1f\tDuration: 2.00 ms\tBilled Duration: 100 ms"
ERROR_LINE = "[ERROR] Exception: boom at handler"
INFO_LINE = "[INFO] all good"


def lines_matching(pattern: str, lines: list[str]) -> list[str]:
    matches = compile_pattern(pattern)
    return [line for line in lines if matches(line)]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", [REPORT, ERROR_LINE, INFO_LINE]),  # matches everything
    ("   ", [REPORT, ERROR_LINE, INFO_LINE]),
    ("ERROR", [ERROR_LINE]),
    ("error", []),  # case-sensitive
    ("ERROR boom", [ERROR_LINE]),  # every plain term
    ("ERROR good", []),
    ("ERR", [ERROR_LINE]),  # a substring
    ('"Billed Duration"', [REPORT]),  # a quoted phrase, spaces and all
    ('"[INFO]"', [INFO_LINE]),  # brackets quoted
    ("?ERROR ?REPORT", [REPORT, ERROR_LINE]),  # any of the alternatives
    ("?nothing ?else", []),
    ("Exception ?boom ?nothing", [ERROR_LINE]),  # plain terms and at least one alternative
    ("Exception ?nothing", []),
    ("-ERROR", [REPORT, INFO_LINE]),  # none of the exclusions
    ("l -ERROR", [REPORT, INFO_LINE]),
    ("l -ERROR -REPORT", [INFO_LINE]),
    ('-"Billed Duration"', [ERROR_LINE, INFO_LINE]),
    ('?"all good" ?boom', [ERROR_LINE, INFO_LINE]),
])
def test_terms(pattern: str, expected: list[str]) -> None:
    assert lines_matching(pattern, [REPORT, ERROR_LINE, INFO_LINE]) == expected


def test_quoted_terms_take_escaped_quotes_and_backslashes() -> None:
    assert compile_pattern(r'"say \"hi\""')('they say "hi" twice')
    assert not compile_pattern(r'"say \"hi\""')("they say hi twice")
    assert compile_pattern(r'"a\\b"')("path a\\b here")


EVENTS = [
    {"level": "ERROR", "message": "boom", "latency": 250, "user": {"id": "u-17", "admin": True},
     "tags": ["a", "b"], "trace": None},
    {"level": "INFO", "message": "ok", "latency": 20, "user": {"id": "u-18", "admin": False}, "tags": []},
    {"level": "WARN", "latency": 120.5, "user": {"id": "x-1"}},
]
LINES = [json.dumps(event) for event in EVENTS] + ["not json ERROR", "[1, 2]", ""]


def levels(pattern: str) -> list[str]:
    return [json.loads(line)["level"] for line in lines_matching(pattern, LINES)]


@pytest.mark.parametrize(("pattern", "expected"), [
    ('{ $.level = "ERROR" }', ["ERROR"]),
    ('{$.level="ERROR"}', ["ERROR"]),  # spaces are optional
    ("{ $.level = ERROR }", ["ERROR"]),  # a bare word is a string
    ('{ $.level != "ERROR" }', ["INFO", "WARN"]),
    ('{ $.level = "E*" }', ["ERROR"]),  # * is a wildcard
    ('{ $.user.id = "u-*" }', ["ERROR", "INFO"]),  # nested fields
    ('{ $.user.id = "*1" }', ["WARN"]),
    ('{ $.user.id = "*1*" }', ["ERROR", "INFO", "WARN"]),
    ('{ $.latency > 100 }', ["ERROR", "WARN"]),
    ('{ $.latency >= 250 }', ["ERROR"]),
    ('{ $.latency < 120.5 }', ["INFO"]),
    ('{ $.latency <= 120.5 }', ["INFO", "WARN"]),
    ('{ $.latency = 20 }', ["INFO"]),
    ('{ $.latency != 20 }', ["ERROR", "WARN"]),
    ('{ $.latency = "20" }', []),  # a quoted value compares strings: latency is a number
    ('{ $.level = 20 }', []),  # a number compares numbers: level is a string
    ('{ $.user.admin IS TRUE }', ["ERROR"]),
    ('{ $.user.admin is false }', ["INFO"]),
    ('{ $.trace IS NULL }', ["ERROR"]),
    ('{ $.message NOT EXISTS }', ["WARN"]),
    ('{ $.tags[1] = "b" }', ["ERROR"]),
    ('{ $.tags[5] = "b" }', []),
    ('{ $.missing = "x" }', []),
    ('{ $.missing != "x" }', []),  # a field that is not there compares to nothing
    ('{ $.level = "ERROR" || $.level = "WARN" }', ["ERROR", "WARN"]),
    ('{ $.level = "INFO" && $.latency < 100 }', ["INFO"]),
    ('{ $.level = "INFO" && $.latency > 100 }', []),
    ('{ ($.level = "ERROR" || $.level = "INFO") && $.user.admin IS FALSE }', ["INFO"]),
    ('{ $.level = "WARN" || ($.latency > 200 && $.user.admin IS TRUE) }', ["ERROR", "WARN"]),
])
def test_json_patterns(pattern: str, expected: list[str]) -> None:
    assert levels(pattern) == expected


def test_json_patterns_never_match_messages_that_are_not_json_objects() -> None:
    matches = compile_pattern('{ $.level = "ERROR" }')
    assert not matches("not json ERROR") and not matches("[1, 2]") and not matches("") and not matches('"ERROR"')


@pytest.mark.parametrize(("pattern", "says"), [
    ('"unterminated', "Unterminated quoted string"),
    ('-"open', "Unterminated quoted string"),
    ("ERROR ? WARN", "Empty term"),
    ("ERROR -", "Empty term"),
    ('ab"c', "quote terms"),
    ("a}b", "quote terms"),
    ("[ip, user]", "Space-delimited"),
    ("{ $.level = ", "ends where a value should be"),
    ('{ $.level = "ERROR"', "ends where '}' should be"),
    ('{ $.level = "ERROR" } extra', "after the closing }"),
    ('{ level = "ERROR" }', "Expected a selector"),
    ('{ $ = "ERROR" }', "A selector names a field"),
    ('{ $.level ~ "ERROR" }', "Expected an operator"),
    ('{ $.level = "ERROR" ! }', "Unexpected '! }'"),
    ('{ $.level "ERROR" }', "Expected an operator"),
    ('{ $.latency > "slow" }', "compares numbers"),
    ('{ $.a IS MAYBE }', "TRUE, FALSE or NULL"),
    ('{ $.a NOT THERE }', "EXISTS after NOT"),
    ('{ $.a = 1 && }', "Expected a selector"),
    ('{ ($.a = 1 }', "Expected ')'"),
    ("{ }", "Expected a selector"),
    ("{ " + "(" * (MAX_DEPTH + 2) + "$.a = 1" + ")" * (MAX_DEPTH + 2) + " }", "nests more than"),
    ("x" * (MAX_PATTERN_CHARS + 1), "longer than"),
])
def test_bad_patterns_are_refused_saying_what_is_wrong(pattern: str, says: str) -> None:
    with pytest.raises(InvalidFilterPattern) as refused:
        compile_pattern(pattern)
    assert says in str(refused.value)
