"""The client follows a paged listing to its end (faas.client.transport.pages), whichever field names the
next page, and stops with an error, not a loop, when the platform hands back a token it gave before."""

from __future__ import annotations

import pytest

from faas.client.transport import ClientError, pages


def test_pages_are_followed_in_order_to_the_last() -> None:
    answers = {None: {"Functions": [1, 2], "NextMarker": "b"}, "b": {"Functions": [3], "NextMarker": "c"},
               "c": {"Functions": []}}
    asked: list[str | None] = []

    def fetch(token: str | None) -> dict:
        asked.append(token)
        return answers[token]

    assert pages(fetch, "Functions", "NextMarker") == [1, 2, 3]
    assert asked == [None, "b", "c"]


def test_a_page_without_items_or_with_an_empty_token_ends_the_listing() -> None:
    assert pages(lambda token: {"NextToken": ""}, "QueueUrls", "NextToken") == []


def test_a_token_given_twice_is_an_error() -> None:
    answers = {None: {"QueueUrls": ["a"], "NextToken": "t"}, "t": {"QueueUrls": ["b"], "NextToken": "t"}}
    with pytest.raises(ClientError, match="NextToken 't' twice"):
        pages(lambda token: answers[token], "QueueUrls", "NextToken")
