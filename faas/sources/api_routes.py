"""How an HTTP API picks the route for a request (pure): API Gateway's order, most specific first.

A route's path matches a request path of as many segments, literal segments equal and `{name}` segments
taking one segment each; a greedy `{name+}` takes one or more. Of the routes that match, API Gateway
prefers a route without a greedy variable, then the one whose earlier segments are literal, then the
greedy route with the longest prefix; a route for the request's method before an ANY route. `$default`
takes what nothing else matches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from urllib.parse import unquote

from faas.services.http_apis import DEFAULT_ROUTE, parse_route_key


@dataclasses.dataclass(frozen=True)
class Route:
    key: str  # "GET /users/{id}", or "$default"
    method: str  # GET ... ANY; "" for $default
    segments: tuple[str, ...]  # literal text, or a parameter's name; the greedy one last
    literal: tuple[bool, ...]  # per segment: literal or a parameter
    greedy: bool  # the last segment is {name+}
    value: dict  # the route's document


@dataclasses.dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]


class RouteTable:
    """An API's routes, grouped by segment count and then by a literal first segment, so a request looks
    only at routes that could match: an API of many routes costs a dictionary lookup, not a scan."""

    def __init__(self, routes: Iterable[tuple[str, dict]]) -> None:
        exact: dict[int, list[Route]] = {}
        self._greedy: list[Route] = []
        self.default: Route | None = None
        for key, value in routes:
            parsed = parse_route_key(key)
            if parsed is None:
                self.default = Route(DEFAULT_ROUTE, "", (), (), False, value)
                continue
            method, segments = parsed
            names = tuple(_name(s) or s for s in segments)
            literal = tuple(_name(s) is None for s in segments)
            greedy = bool(segments) and segments[-1].endswith("+}")
            route = Route(key, method, names, literal, greedy, value)
            (self._greedy if greedy else exact.setdefault(len(segments), [])).append(route)
        # Most specific first, so the first match is the one: literal segments before parameters (earlier
        # segments count first), a method before ANY, and greedy routes by their longest literal prefix.
        # Routes whose first segment is literal come before those where it is a parameter, so each length's
        # routes split into the ones under their first segment and the rest, in that order, keep the order.
        self._by_first: dict[int, dict[str, list[Route]]] = {}
        self._parameter_first: dict[int, list[Route]] = {}
        for length, routes_of_a_length in exact.items():
            routes_of_a_length.sort(key=lambda r: (tuple(not lit for lit in r.literal), r.method == "ANY"))
            for route in routes_of_a_length:
                if route.literal and route.literal[0]:
                    self._by_first.setdefault(length, {}).setdefault(route.segments[0], []).append(route)
                else:
                    self._parameter_first.setdefault(length, []).append(route)
        self._greedy.sort(key=lambda r: (-len(r.segments), tuple(not lit for lit in r.literal), r.method == "ANY"))

    def match(self, method: str, path: str) -> Match | None:
        """The route for `method` and `path` (the path after the stage, still percent-encoded)."""
        parts = tuple(path[1:].split("/")) if path not in ("", "/") else ()
        first = self._by_first.get(len(parts), {}).get(parts[0], []) if parts else []
        for route in (*first, *self._parameter_first.get(len(parts), ())):
            if route.method in (method, "ANY"):
                found = _bind(route, parts)
                if found is not None:
                    return Match(route, found)
        for route in self._greedy:
            if route.method in (method, "ANY") and len(parts) >= len(route.segments):
                found = _bind(route, parts)
                if found is not None:
                    return Match(route, found)
        return Match(self.default, {}) if self.default is not None else None


def _name(segment: str) -> str | None:
    if segment.startswith("{") and segment.endswith("}"):
        return segment[1:-1].rstrip("+")
    return None


def _bind(route: Route, parts: tuple[str, ...]) -> dict[str, str] | None:
    """The path parameters when `parts` fits the route, else None (`parts` is long enough)."""
    params: dict[str, str] = {}
    last = len(route.segments) - 1
    for index, (segment, literal) in enumerate(zip(route.segments, route.literal)):
        if route.greedy and index == last:
            rest = "/".join(parts[index:])
            if not rest:
                return None
            params[segment] = unquote(rest)
            return params
        if literal:
            if parts[index] != segment:
                return None
        elif parts[index]:
            params[segment] = unquote(parts[index])
        else:
            return None  # a parameter takes a non-empty segment
    return params
