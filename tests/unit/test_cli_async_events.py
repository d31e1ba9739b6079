"""`faas events`: a function's name or a verb as its first word, and how `faas events NAME` shows the events
(tests/e2e/test_async_events_e2e.py drives a real server)."""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pytest

from faas import cli
from faas.cli import async_events, events
from faas.client.api import Client

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return cli.build_parser().parse_args(["events", *argv])


@pytest.mark.parametrize("argv, name", [
    (["orders"], "orders"),
    (["orders", "--state", "failed", "-o", "json"], "orders"),
    (["ls", "orders"], "orders"),
    (["ls", "put"], "put"),  # a function named as a verb
    (["ls", "ls"], "ls"),
    (["arn:aws:lambda:us-east-1:000000000000:function:orders"], "arn:aws:lambda:us-east-1:000000000000:function:orders"),
])
def test_a_first_word_that_is_no_verb_names_a_function(argv: list[str], name: str) -> None:
    args = parse(*argv)
    assert (args.run, args.name) == (async_events.cmd_ls, name)


def test_put_is_still_put() -> None:
    args = parse("put", "--source", "shop", "--detail-type", "Order", "--detail", "{}")
    assert (args.run, args.source) == (events.cmd_put, "shop")


def test_the_verbs_are_listed_for_help_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    group = next(a for a in commands.choices["events"]._actions if isinstance(a, argparse._SubParsersAction))
    assert list(group.choices) == ["ls", "list", "put"]  # list: ls's alias, as in every group
    assert cli.main(["events", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "faas events [-h] FUNCTION" in out and "faas events put" in out and "'faas events ls NAME'" in out


@pytest.mark.parametrize("argv", [["events"], ["events", "orders", "--state", "running"],
                                  ["events", "orders", "--limit", "many"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "usage: faas events" in capsys.readouterr().err


def event(state: str, **fields: object) -> dict:
    return {"RequestId": f"req-{state}", "State": state, "Attempts": 1, "NextAttemptAt": None, "LastError": None,
            "EnqueuedAt": NOW.isoformat(), "PayloadBytes": 2, "FailedAt": None, "Reason": None, "SentTo": [],
            **fields}


@pytest.mark.parametrize("shown, expected", [
    (event("pending", NextAttemptAt=(NOW + dt.timedelta(seconds=42)).isoformat()), "in 42s"),
    (event("pending", NextAttemptAt=(NOW + dt.timedelta(seconds=125)).isoformat()), "in 2m 5s"),
    (event("pending", NextAttemptAt=(NOW - dt.timedelta(seconds=3)).isoformat()), "now"),
    (event("running"), "running"),
    (event("failed"), "-"),
])
def test_the_next_retry_column(shown: dict, expected: str) -> None:
    assert async_events._next_retry(shown, NOW) == expected


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list:
    """The events the fake server answers, and the requests made of it."""
    answer = [event("pending", NextAttemptAt=NOW.isoformat(), LastError="ValueError"),
              event("failed", Attempts=3, LastError="ValueError", SentTo=["arn:aws:sqs:us-east-1:0:dlq"]),
              event("failed", Reason="EventAgeExceeded")]
    asked = []

    def async_events_of(self, name: str, state: str, limit: int) -> list:  # type: ignore[no-untyped-def]
        asked.append((name, state, limit))
        return answer[:limit]

    monkeypatch.setattr(Client, "async_events", async_events_of)
    monkeypatch.setattr(async_events, "client_for", lambda args: Client.__new__(Client))
    return asked


def test_the_table_and_the_json(listed: list, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["events", "orders"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["REQUEST", "ID", "STATE", "ATTEMPTS", "NEXT", "RETRY", "LAST", "ERROR", "SENT", "TO"]
    assert lines[1].split() == ["req-pending", "pending", "1", "now", "ValueError"]
    assert lines[2].split() == ["req-failed", "failed", "3", "-", "ValueError", "arn:aws:sqs:us-east-1:0:dlq"]
    assert lines[3].split() == ["req-failed", "failed", "1", "-", "dropped"]
    assert cli.main(["events", "ls", "orders", "--state", "failed", "--limit", "2", "-o", "json"]) == 0
    captured = capsys.readouterr()
    assert [e["State"] for e in json.loads(captured.out)["Events"]] == ["pending", "failed"]
    assert "--limit" in captured.err  # there may be more
    assert listed == [("orders", "all", 100), ("orders", "failed", 2)]


def test_no_events_says_so(listed: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(Client, "async_events", lambda self, name, state, limit: [])
    assert cli.main(["events", "orders", "--state", "pending"]) == 0
    assert capsys.readouterr().out == "orders has no pending asynchronous events\n"
