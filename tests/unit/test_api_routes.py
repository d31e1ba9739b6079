"""Route matching of HTTP APIs against a table of API Gateway's documented precedence."""

from __future__ import annotations

import pytest

from faas.sources.api_routes import RouteTable

TABLE = RouteTable((key, key) for key in [
    "GET /pets", "GET /pets/{id}", "GET /pets/dog/{id}", "ANY /pets/{id}", "GET /pets/{id}/toys",
    "ANY /files/{proxy+}", "GET /files/img/{proxy+}", "POST /files/{proxy+}", "GET /", "$default", "GET /{kind}/toys",
])


@pytest.mark.parametrize("method, path, key, params", [
    ("GET", "/pets", "GET /pets", {}),
    ("GET", "/pets/7", "GET /pets/{id}", {"id": "7"}),
    ("DELETE", "/pets/7", "ANY /pets/{id}", {"id": "7"}),
    ("GET", "/pets/dog/1", "GET /pets/dog/{id}", {"id": "1"}),
    ("GET", "/pets/7/toys", "GET /pets/{id}/toys", {"id": "7"}),
    ("GET", "/files/a/b/c.txt", "ANY /files/{proxy+}", {"proxy": "a/b/c.txt"}),
    ("POST", "/files/a", "POST /files/{proxy+}", {"proxy": "a"}),
    ("GET", "/files/img/x.png", "GET /files/img/{proxy+}", {"proxy": "x.png"}),
    ("GET", "/files/a%20b", "ANY /files/{proxy+}", {"proxy": "a b"}),
    ("GET", "/", "GET /", {}),
    ("GET", "/cats/toys", "GET /{kind}/toys", {"kind": "cats"}),  # a parameter first: after literal-first routes
    ("GET", "/files", "$default", {}),  # a greedy variable takes at least one segment
    ("PUT", "/pets", "$default", {}),
    ("GET", "/nowhere/at/all", "$default", {}),
    ("GET", "/pets//toys", "$default", {}),
])
def test_the_most_specific_route_wins(method, path, key, params):
    found = TABLE.match(method, path)
    assert found is not None and (found.route.key, found.path_parameters) == (key, params)


def test_without_default_nothing_matches_what_no_route_covers():
    table = RouteTable([("GET /a", 1)])
    assert table.match("GET", "/b") is None and table.match("POST", "/a") is None
    assert table.match("GET", "/a") is not None
