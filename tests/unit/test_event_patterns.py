"""The event-pattern matcher (faas.event_patterns): each operator, arrays, nesting, $or, dialects and limits."""

from __future__ import annotations

import json

import pytest

from faas.errors import FaasError, InvalidEventPattern
from faas.event_patterns import compile_pattern

DIALECTS = ["lambda", "sns", "events"]

# (pattern, event, expected): valid in every dialect.
COMMON = [
    # exact strings, numbers, null, booleans
    ({"a": ["x"]}, {"a": "x"}, True),
    ({"a": ["x"]}, {"a": "X"}, False),
    ({"a": ["x", "y"]}, {"a": "y"}, True),
    ({"a": [""]}, {"a": ""}, True),
    ({"a": [""]}, {"a": "x"}, False),
    ({"a": [1]}, {"a": 1.0}, True),
    ({"a": [1.5]}, {"a": 1.5}, True),
    ({"a": [1]}, {"a": 2}, False),
    ({"a": [1]}, {"a": "1"}, False),
    ({"a": ["1"]}, {"a": 1}, False),
    ({"a": [1]}, {"a": True}, False),
    ({"a": [True]}, {"a": True}, True),
    ({"a": [True]}, {"a": 1}, False),
    ({"a": [False]}, {"a": False}, True),
    ({"a": [False]}, {"a": 0}, False),
    ({"a": [None]}, {"a": None}, True),
    ({"a": [None]}, {}, False),
    ({"a": [None]}, {"a": ""}, False),
    # missing fields and objects where a leaf is expected
    ({"a": ["x"]}, {}, False),
    ({"a": ["x"]}, {"a": {"x": 1}}, False),
    ({"a": ["x"]}, {"b": "x"}, False),
    # arrays in events: any element
    ({"a": ["x"]}, {"a": ["y", "x"]}, True),
    ({"a": ["x"]}, {"a": ["y", "z"]}, False),
    ({"a": ["x"]}, {"a": []}, False),
    ({"a": ["x"]}, {"a": [["x"]]}, True),
    # AND over keys
    ({"a": ["x"], "b": [1]}, {"a": "x", "b": 1}, True),
    ({"a": ["x"], "b": [1]}, {"a": "x", "b": 2}, False),
    ({"a": ["x"], "b": [1]}, {"a": "x"}, False),
    # nested objects
    ({"a": {"b": ["x"]}}, {"a": {"b": "x"}}, True),
    ({"a": {"b": ["x"]}}, {"a": {"b": "y"}}, False),
    ({"a": {"b": ["x"]}}, {"a": "x"}, False),
    ({"a": {"b": ["x"]}}, {}, False),
    ({"a": {"b": {"c": [1]}}}, {"a": {"b": {"c": 1}}, "z": 0}, True),
    # an array of objects: one element must match the whole sub-pattern
    ({"a": {"b": ["x"], "c": ["y"]}}, {"a": [{"b": "x", "c": "n"}, {"b": "x", "c": "y"}]}, True),
    ({"a": {"b": ["x"], "c": ["y"]}}, {"a": [{"b": "x", "c": "n"}, {"b": "n", "c": "y"}]}, False),
    # prefix, suffix, equals-ignore-case
    ({"a": [{"prefix": "us-"}]}, {"a": "us-east-1"}, True),
    ({"a": [{"prefix": "us-"}]}, {"a": "eu-west-1"}, False),
    ({"a": [{"prefix": "us-"}]}, {"a": "US-east-1"}, False),
    ({"a": [{"prefix": "1"}]}, {"a": 12}, False),
    ({"a": [{"suffix": ".png"}]}, {"a": "cat.png"}, True),
    ({"a": [{"suffix": ".png"}]}, {"a": "cat.PNG"}, False),
    ({"a": [{"suffix": ".png"}]}, {"a": ["a.jpg", "b.png"]}, True),
    ({"a": [{"equals-ignore-case": "alice"}]}, {"a": "ALICE"}, True),
    ({"a": [{"equals-ignore-case": "alice"}]}, {"a": "alicia"}, False),
    ({"a": [{"equals-ignore-case": "straße"}]}, {"a": "STRASSE"}, True),
    # anything-but: scalar, list, numbers; a missing field never matches
    ({"a": [{"anything-but": "init"}]}, {"a": "running"}, True),
    ({"a": [{"anything-but": "init"}]}, {"a": "init"}, False),
    ({"a": [{"anything-but": "init"}]}, {}, False),
    ({"a": [{"anything-but": "init"}]}, {"a": None}, False),
    ({"a": [{"anything-but": ["x", "y"]}]}, {"a": "y"}, False),
    ({"a": [{"anything-but": ["x", "y"]}]}, {"a": "z"}, True),
    ({"a": [{"anything-but": ["x", "y"]}]}, {"a": ["x", "z"]}, True),
    ({"a": [{"anything-but": 5}]}, {"a": 5.0}, False),
    ({"a": [{"anything-but": [5, 6]}]}, {"a": 7}, True),
    ({"a": [{"anything-but": "x"}]}, {"a": 7}, True),
    # numeric
    ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5}, True),
    ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 0}, False),
    ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 0.00001}, True),
    ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5.00001}, False),
    ({"a": [{"numeric": [">=", 0, "<", 5]}]}, {"a": 0}, True),
    ({"a": [{"numeric": [">=", 0, "<", 5]}]}, {"a": 5}, False),
    ({"a": [{"numeric": ["<", 0]}]}, {"a": -0.5}, True),
    ({"a": [{"numeric": ["<", 0]}]}, {"a": 0}, False),
    ({"a": [{"numeric": ["=", 3]}]}, {"a": 3.0}, True),
    ({"a": [{"numeric": ["=", 3.5]}]}, {"a": 3}, False),
    ({"a": [{"numeric": [">", 0]}]}, {"a": "5"}, False),
    ({"a": [{"numeric": [">", 0]}]}, {"a": True}, False),
    ({"a": [{"numeric": [">", 0]}]}, {"a": [-1, 3]}, True),
    ({"a": [{"numeric": [">", 0]}]}, {}, False),
    # exists
    ({"a": [{"exists": True}]}, {"a": "x"}, True),
    ({"a": [{"exists": True}]}, {"a": None}, True),
    ({"a": [{"exists": True}]}, {}, False),
    ({"a": [{"exists": True}]}, {"a": {"b": 1}}, False),
    ({"a": [{"exists": True}]}, {"a": []}, False),
    ({"a": [{"exists": False}]}, {}, True),
    ({"a": [{"exists": False}]}, {"a": "x"}, False),
    ({"a": {"b": [{"exists": False}]}}, {"a": {"c": 1}}, True),
    ({"a": {"b": [{"exists": False}]}}, {"a": {"b": 1}}, False),
    ({"a": ["x", {"exists": False}]}, {}, True),
    ({"a": ["x", {"exists": False}]}, {"a": "x"}, True),
    ({"a": ["x", {"exists": False}]}, {"a": "y"}, False),
    ({"a": [{"exists": True}, {"exists": False}]}, {}, True),
    ({"a": [{"exists": True}, {"exists": False}]}, {"a": 1}, True),
    # $or
    ({"$or": [{"a": ["x"]}, {"b": [1]}]}, {"b": 1}, True),
    ({"$or": [{"a": ["x"]}, {"b": [1]}]}, {"a": "x"}, True),
    ({"$or": [{"a": ["x"]}, {"b": [1]}]}, {"a": "y", "b": 2}, False),
    ({"c": ["k"], "$or": [{"a": ["x"]}, {"b": [1]}]}, {"c": "k", "b": 1}, True),
    ({"c": ["k"], "$or": [{"a": ["x"]}, {"b": [1]}]}, {"c": "z", "b": 1}, False),
    ({"a": {"$or": [{"b": ["x"]}, {"c": ["y"]}]}}, {"a": {"c": "y"}}, True),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("pattern", "event", "expected"), COMMON, ids=lambda v: json.dumps(v))
def test_matches_in_every_dialect(dialect, pattern, event, expected):
    assert compile_pattern(pattern, dialect=dialect).matches(event) is expected


# Operators only some dialects accept: (pattern, event, expected, dialects that accept it).
PARTIAL = [
    ({"a": [{"prefix": {"equals-ignore-case": "EventB"}}]}, {"a": "eventbridge"}, True, {"lambda", "events"}),
    ({"a": [{"prefix": {"equals-ignore-case": "EventB"}}]}, {"a": "bridge"}, False, {"lambda", "events"}),
    ({"a": [{"suffix": {"equals-ignore-case": ".PNG"}}]}, {"a": "x.png"}, True, {"lambda", "events"}),
    ({"a": [{"anything-but": {"prefix": "us-"}}]}, {"a": "eu-west-1"}, True, {"sns", "events"}),
    ({"a": [{"anything-but": {"prefix": "us-"}}]}, {"a": "us-east-1"}, False, {"sns", "events"}),
    ({"a": [{"anything-but": {"prefix": "us-"}}]}, {"a": 1}, False, {"sns", "events"}),
    ({"a": [{"anything-but": {"suffix": ".png"}}]}, {"a": "x.jpg"}, True, {"sns", "events"}),
    ({"a": [{"anything-but": {"suffix": ".png"}}]}, {"a": "x.png"}, False, {"sns", "events"}),
    ({"a": [{"anything-but": {"equals-ignore-case": ["X", "y"]}}]}, {"a": "Y"}, False, {"events"}),
    ({"a": [{"anything-but": {"equals-ignore-case": "X"}}]}, {"a": "z"}, True, {"events"}),
    ({"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"a": "/usr/lib/x"}, False, {"events"}),
    ({"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"a": "/usr/bin/x"}, True, {"events"}),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.255"}, True, {"sns", "events"}),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.1.0"}, False, {"sns", "events"}),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "not an ip"}, False, {"sns", "events"}),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "2001:db8::1"}, False, {"sns", "events"}),
    ({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"}, True, {"sns", "events"}),
    ({"ip": [{"cidr": "10.0.0.7"}]}, {"ip": "10.0.0.7"}, True, {"sns", "events"}),
    ({"f": [{"wildcard": "dir/*.png"}]}, {"f": "dir/a/b.png"}, True, {"events"}),
    ({"f": [{"wildcard": "dir/*.png"}]}, {"f": "dir/a.jpg"}, False, {"events"}),
    ({"f": [{"wildcard": "*"}]}, {"f": ""}, True, {"events"}),
    ({"f": [{"wildcard": "a*b*c"}]}, {"f": "abc"}, True, {"events"}),
    ({"f": [{"wildcard": "a*b*c"}]}, {"f": "acb"}, False, {"events"}),
    ({"f": [{"wildcard": "ab*ba"}]}, {"f": "aba"}, False, {"events"}),
    ({"f": [{"wildcard": "ab*ba"}]}, {"f": "abba"}, True, {"events"}),
    ({"f": [{"wildcard": "a\\*b"}]}, {"f": "a*b"}, True, {"events"}),
    ({"f": [{"wildcard": "a\\*b"}]}, {"f": "axb"}, False, {"events"}),
    ({"f": [{"wildcard": "no-star"}]}, {"f": "no-star"}, True, {"events"}),
    ({"f": [{"wildcard": "x*"}]}, {"f": 5}, False, {"events"}),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("pattern", "event", "expected", "accepted"), PARTIAL, ids=lambda v: json.dumps(v, default=sorted)
)
def test_operators_some_dialects_refuse(dialect, pattern, event, expected, accepted):
    if dialect in accepted:
        assert compile_pattern(pattern, dialect=dialect).matches(event) is expected
    else:
        with pytest.raises(InvalidEventPattern, match=f"not supported in a {dialect} pattern|in a {dialect} pattern"):
            compile_pattern(pattern, dialect=dialect)


# Invalid everywhere: (pattern, words the message must contain).
INVALID = [
    ([], "must be a JSON object"),
    ("not json", "not valid JSON"),
    ('["a"]', "must be a JSON object"),
    ({}, "at least one key"),
    ({"a": {}}, "a: an object in a pattern must have at least one key"),
    ({"a": "x"}, "a: must be an array of values to match or an object; found a string"),
    ({"a": 1}, "found a number"),
    ({"a": {"b": None}}, "a.b: must be an array"),
    ({"a": []}, "a: an array of values to match must not be empty"),
    ({"a": [["x"]]}, "cannot contain arrays"),
    ({"a": [{"nope": 1}]}, "a: unsupported operator 'nope'"),
    ({"a": [{"prefix": "x", "suffix": "y"}]}, "exactly one key"),
    ({"a": [{"prefix": 1}]}, "a.prefix: must be a string; found a number"),
    ({"a": [{"suffix": None}]}, "a.suffix: must be a string; found null"),
    ({"a": [{"equals-ignore-case": ["x"]}]}, "a.equals-ignore-case: must be a string; found an array"),
    ({"a": [{"exists": "yes"}]}, "exists must be true or false"),
    ({"a": [{"anything-but": []}]}, "must not be empty"),
    ({"a": [{"anything-but": ["x", 1]}]}, "only strings or only numbers"),
    ({"a": [{"anything-but": None}]}, "anything-but takes"),
    ({"a": [{"anything-but": {"nope": "x"}}]}, "unsupported operator 'nope' inside anything-but"),
    ({"a": [{"numeric": 5}]}, "a.numeric: numeric takes one or two"),
    ({"a": [{"numeric": [">"]}]}, "numeric takes one or two"),
    ({"a": [{"numeric": [">", 1, "<", 2, "=", 3]}]}, "numeric takes one or two"),
    ({"a": [{"numeric": [">", "1"]}]}, "must be followed by a number; found a string"),
    ({"a": [{"numeric": [">", True]}]}, "found a boolean"),
    ({"a": [{"numeric": ["!=", 1]}]}, "unknown comparison '!='"),
    ({"a": [{"numeric": [">", 1, ">=", 2]}]}, "at most one lower bound"),
    ({"a": [{"numeric": ["<", 1, "<=", 2]}]}, "at most one upper bound"),
    ({"a": [{"numeric": ["=", 1, "<", 2]}]}, "'=' cannot be combined"),
    ({"a": [{"numeric": [">", 5, "<", 1]}]}, "a.numeric: the range > 5 and < 1 is empty"),
    ({"a": [{"numeric": [">", 5, "<=", 5]}]}, "is empty"),
    ({"a": [{"numeric": [">", float("inf")]}]}, "finite"),
    ({"$or": {"a": ["x"]}}, "$or must be an array of at least two pattern objects"),
    ({"$or": [{"a": ["x"]}]}, "at least two"),
    ({"$or": [{"a": ["x"]}, ["b"]]}, "at least two pattern objects"),
    ({"$or": [{"a": ["x"]}, {"b": []}]}, "$or[1].b: an array of values to match must not be empty"),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("pattern", "message"), INVALID, ids=lambda v: json.dumps(v, default=str))
def test_invalid_patterns_are_refused_with_the_key_path(dialect, pattern, message):
    with pytest.raises(InvalidEventPattern) as raised:
        compile_pattern(pattern, dialect=dialect)
    assert message in str(raised.value)


def test_invalid_event_pattern_is_a_faas_error_but_no_api_error():
    from faas.errors import ApiError

    assert issubclass(InvalidEventPattern, FaasError) and not issubclass(InvalidEventPattern, ApiError)


def test_an_unknown_dialect_is_a_programming_error():
    with pytest.raises(ValueError, match="dialect"):
        compile_pattern({"a": ["x"]}, dialect="sqs")


def test_a_pattern_matches_only_objects():
    pattern = compile_pattern({"a": [{"exists": False}]})
    assert pattern.matches({}) and not pattern.matches([]) and not pattern.matches("x")


def test_the_json_text_is_accepted_and_parsed():
    pattern = compile_pattern('{"body": {"n": [{"numeric": [">", 1]}]}}', dialect="lambda")
    assert pattern.matches({"body": {"n": 2}}) and not pattern.matches({"body": {"n": 1}})


def test_nested_says_whether_the_pattern_descends_into_objects():
    assert not compile_pattern({"a": ["x"], "$or": [{"b": ["y"]}, {"c": ["z"]}]}, dialect="sns").nested
    assert compile_pattern({"a": {"b": ["x"]}}, dialect="sns").nested


# Size limits: the JSON text's length, as sent (a str) or compactly re-serialised (a dict).
@pytest.mark.parametrize(("dialect", "limit"), [("lambda", 4096), ("events", 4096), ("sns", 256 * 1024)])
def test_pattern_size_limits(dialect, limit):
    def sized(length: int) -> str:
        skeleton = '{"a":[""]}'
        return '{"a":["' + "x" * (length - len(skeleton)) + '"]}'

    assert compile_pattern(sized(limit), dialect=dialect).matches({"a": "x" * (limit - 10)})
    with pytest.raises(InvalidEventPattern, match=f"{limit + 1} characters long; at most {limit}"):
        compile_pattern(sized(limit + 1), dialect=dialect)
    with pytest.raises(InvalidEventPattern, match="characters long"):
        compile_pattern(json.loads(sized(limit + 1)), dialect=dialect)


def test_nesting_is_limited():
    document: dict = {"leaf": ["x"]}
    for _ in range(40):
        document = {"n": document}
    with pytest.raises(InvalidEventPattern, match="nested more than 32 levels deep"):
        compile_pattern(document, dialect="events")


# SNS's limits: five keys, 150 combinations, numbers within ±10^9 with five decimals.
SNS_LIMITS = [
    ({k: ["x"] for k in "abcdef"}, "6 keys; at most 5"),
    ({"a": ["x"], "$or": [{"b": ["x"]}, {"c": ["x"], "d": {"e": ["x"], "f": ["x"], "g": ["x"]}}]}, "6 keys; at most 5"),
    ({"a": list(range(10)), "b": list(range(16))}, "160 combinations of values; at most 150"),
    ({"a": list(range(10)), "$or": [{"b": list(range(8))}, {"c": list(range(8))}]}, "160 combinations"),
    ({"a": [1_000_000_001]}, "a: number 1000000001 is outside -1000000000..1000000000"),
    ({"a": [{"numeric": [">", -1_000_000_001]}]}, "is outside"),
    ({"a": [{"numeric": ["<", 0.123456]}]}, "more than 5 digits after the decimal point"),
    ({"a": [{"anything-but": [0.000001]}]}, "more than 5 digits"),
    ({"a": [{"wildcard": "x*"}]}, "unsupported operator 'wildcard' in a sns pattern"),
]


@pytest.mark.parametrize(("pattern", "message"), SNS_LIMITS, ids=lambda v: json.dumps(v)[:60])
def test_sns_limits(pattern, message):
    with pytest.raises(InvalidEventPattern) as raised:
        compile_pattern(pattern, dialect="sns")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("pattern", "event"),
    [
        ({k: ["x"] for k in "abcde"}, dict.fromkeys("abcde", "x")),
        ({"a": list(range(10)), "b": list(range(15))}, {"a": 9, "b": 14}),
        ({"a": [1_000_000_000, -1_000_000_000, 0.12345]}, {"a": 0.12345}),
        ({"a": [{"numeric": [">=", -1_000_000_000, "<", 1_000_000_000]}]}, {"a": -1_000_000_000}),
    ],
    ids=["five-keys", "150-combinations", "number-bounds", "numeric-bounds"],
)
def test_sns_limits_at_their_edge_are_accepted(pattern, event):
    assert compile_pattern(pattern, dialect="sns").matches(event)


def test_events_numeric_bounds_and_lambda_has_none():
    with pytest.raises(InvalidEventPattern, match="outside -5000000000..5000000000"):
        compile_pattern({"a": [{"numeric": [">", 5_000_000_001]}]}, dialect="events")
    assert compile_pattern({"a": [{"numeric": [">", 5_000_000_001]}]}, dialect="lambda").matches({"a": 6e9})
    assert compile_pattern({"a": [1e12]}, dialect="events").matches({"a": 1e12})


@pytest.mark.parametrize(
    ("wildcard", "message"),
    [
        ("a**b", "consecutive *"),
        ("a\\b", "only * and \\ may follow a backslash"),
        ("a\\", "lone backslash"),
        ("*" + "a*" * 33, "at most 32 *"),
        (5, "must be a string"),
    ],
)
def test_bad_wildcards(wildcard, message):
    with pytest.raises(InvalidEventPattern) as raised:
        compile_pattern({"f": [{"wildcard": wildcard}]}, dialect="events")
    assert message in str(raised.value) and "f.wildcard" in str(raised.value)


def test_a_bad_cidr_is_refused():
    with pytest.raises(InvalidEventPattern, match="ip.cidr: '10.0.0.0/33' is not an IP address or CIDR block"):
        compile_pattern({"ip": [{"cidr": "10.0.0.0/33"}]}, dialect="sns")


def test_wildcard_on_a_long_adversarial_input():
    # A backtracking matcher (or a regex like a.*a.*a.*b) takes exponential or cubic steps on this input;
    # the segment scan decides it in one pass, so the test finishes at once with the right answer.
    pattern = compile_pattern({"f": [{"wildcard": "*a*a*a*a*a*a*a*a*b"}]}, dialect="events")
    assert not pattern.matches({"f": "a" * 200_000})
    assert pattern.matches({"f": "a" * 200_000 + "b"})
    assert compile_pattern({"f": [{"wildcard": "*" + "ab*" * 20 + "c"}]}, dialect="events").matches(
        {"f": "ab" * 100_000 + "c"}
    )


def test_a_compiled_pattern_is_reused_across_events():
    pattern = compile_pattern({"body": {"kind": ["order"], "total": [{"numeric": [">", 100]}]}}, dialect="lambda")
    events = [{"body": {"kind": "order", "total": total}} for total in (50, 150, 100, 100.5)]
    assert [pattern.matches(event) for event in events] == [False, True, False, True]


def test_deeply_nested_arrays_in_an_event():
    deep: list = ["x"]
    for _ in range(5000):
        deep = [deep]
    assert compile_pattern({"a": ["x"]}).matches({"a": ["y", deep]})
    assert not compile_pattern({"a": {"b": ["x"]}}).matches({"a": deep})
