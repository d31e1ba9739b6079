"""`faas schedules`: parsing, and the CreateSchedule body the options make (tests/e2e/test_cli_schedules_e2e.py
drives a real server)."""

from __future__ import annotations

import pytest

from faas import cli
from faas.cli.schedules import create_settings
from faas.errors import ConfigError

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:report"
ROLE = "arn:aws:iam::000000000000:role/runner"


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return cli.build_parser().parse_args(["schedules", "create", "nightly", *argv])


def test_the_options_make_createschedules_body() -> None:
    body = create_settings(parse("--expression", "cron(0 2 * * ? *)", "--target", FUNCTION, "--role", ROLE,
                                 "--timezone", "Europe/Berlin", "--input", '{"a": 1}', "--retries", "2",
                                 "--dead-letter", "arn:aws:sqs:us-east-1:000000000000:dlq", "--flexible-window",
                                 "15", "--start", "2027-01-01T00:00:00Z", "--group", "team", "--disabled",
                                 "--delete-after-completion"))
    assert body == {
        "GroupName": "team", "ScheduleExpression": "cron(0 2 * * ? *)", "ScheduleExpressionTimezone": "Europe/Berlin",
        "Description": None, "State": "DISABLED", "ActionAfterCompletion": "DELETE",
        "Target": {"Arn": FUNCTION, "RoleArn": ROLE, "Input": '{"a": 1}', "RetryPolicy": {"MaximumRetryAttempts": 2},
                   "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dlq"}},
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        "StartDate": 1798761600.0, "EndDate": None}


def test_the_defaults_are_an_enabled_schedule_without_a_window() -> None:
    body = create_settings(parse("--expression", "rate(1 hour)", "--target", FUNCTION, "--role", ROLE))
    assert (body["State"], body["FlexibleTimeWindow"], body["Target"]) == \
        ("ENABLED", {"Mode": "OFF"}, {"Arn": FUNCTION, "RoleArn": ROLE})


@pytest.mark.parametrize(("option", "value", "says"), [("--input", "{not json", "--input is not JSON"),
                                                       ("--start", "tomorrow", "--start"),
                                                       ("--end", "2027-13-01", "--end")])
def test_bad_options_are_refused_before_any_request(option: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        create_settings(parse("--expression", "rate(1 hour)", "--target", FUNCTION, "--role", ROLE, option, value))


def test_create_needs_an_expression_a_target_and_a_role(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["schedules", "create", "nightly", "--target", FUNCTION]) == 2
    assert "--expression" in capsys.readouterr().err
