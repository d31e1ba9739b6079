"""Wildcard patterns (`*`, `?`) for actions, resources and ARNs, compiled once into matchers that never
backtrack: a pattern such as `*a*a*a*a*a*a*b` cannot make a request backtrack for seconds."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable


def _always(_: str) -> bool:
    return True


def _glob(pattern: str) -> Callable[[str], bool]:
    """A matcher for `*` (any run, including empty) and `?` (one character) that never backtracks.

    The pattern is cut at each `*` into fixed-length segments; taking the leftmost fit of each middle
    segment is always right, so one forward scan decides (a regex `.*a.*a.*b` would backtrack).
    """
    if pattern == "*":
        return _always
    if "*" not in pattern and "?" not in pattern:
        return pattern.__eq__
    if "*" not in pattern:  # only `?`: one fixed-length segment
        return re.compile(_segment(pattern), re.DOTALL).fullmatch
    head, *middle, tail = pattern.split("*")
    middle = [segment for segment in middle if segment]
    min_length = len(pattern) - pattern.count("*")
    if "?" not in pattern:  # the common case: plain string operations, no regex
        def match_literal(value: str) -> bool:
            if len(value) < min_length or not value.startswith(head) or not value.endswith(tail):
                return False
            pos, end = len(head), len(value) - len(tail)
            for segment in middle:
                pos = value.find(segment, pos, end)
                if pos < 0:
                    return False
                pos += len(segment)
            return True

        return match_literal
    head_re = re.compile(_segment(head), re.DOTALL)
    tail_re = re.compile(_segment(tail), re.DOTALL)
    middle_res = [re.compile(_segment(segment), re.DOTALL) for segment in middle]

    def match(value: str) -> bool:
        if len(value) < min_length:
            return False
        end = len(value) - len(tail)
        if not head_re.match(value) or not tail_re.match(value, end):
            return False
        pos = len(head)
        for segment_re in middle_res:
            found = segment_re.search(value, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True

    return match


def _segment(text: str) -> str:
    return "".join("." if c == "?" else re.escape(c) for c in text)


@functools.lru_cache(maxsize=4096)
def _action_matcher(pattern: str) -> Callable[[str], bool]:
    """Matches an action already lower-cased (IAM actions are case-insensitive)."""
    return _glob(pattern.lower())


@functools.lru_cache(maxsize=4096)
def _resource_matcher(pattern: str) -> Callable[[str], bool]:
    return _glob(pattern)


@functools.lru_cache(maxsize=1024)
def _arn_matcher(pattern: str) -> Callable[[str], bool]:
    """ArnLike/ArnEquals: each of the six `:`-separated parts is matched on its own, case-sensitively."""
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return lambda _: False
    matchers = [_glob(part) for part in parts]

    def match(value: str) -> bool:
        values = value.split(":", 5)
        return len(values) == 6 and all(m(v) for m, v in zip(matchers, values))

    return match
