"""`faas triggers`: parsing, and the CreateEventSourceMapping fields the options make (a real server is in
tests/e2e/test_cli_triggers_e2e.py)."""

from __future__ import annotations

import pytest

from faas import cli
from faas.cli.triggers import mapping_row, mapping_settings
from faas.errors import ConfigError


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return cli.build_parser().parse_args(["triggers", *argv])


def test_add_makes_the_fields_it_was_given_and_no_others():
    assert mapping_settings(parse("add", "fn", "--queue", "q")) == {}
    args = parse("add", "fn", "--queue", "q", "--batch-size", "100", "--window", "5", "--report-failures",
                 "--max-concurrency", "4", "--filter", '{"body": {"a": [1]}}', "--filter", '{"b": [2]}',
                 "--disabled")
    assert mapping_settings(args) == {
        "BatchSize": 100, "MaximumBatchingWindowInSeconds": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": 4}, "Enabled": False,
        "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": [1]}}'}, {"Pattern": '{"b": [2]}'}]}}


def test_a_filter_that_is_not_json_is_refused_before_any_request():
    with pytest.raises(ConfigError, match="--filter"):
        mapping_settings(parse("add", "fn", "--queue", "q", "--filter", "{nope"))


@pytest.mark.parametrize("argv", [["add", "fn"], ["add", "fn", "--queue", "q", "--batch-size", "-1"],
                                  ["add", "fn", "--queue", "q", "--window", "soon"], ["rm"], ["ls"]])
def test_usage_errors_exit_2(argv):
    assert cli.main(["triggers", *argv]) == 2


def test_a_row_shows_the_queue_by_name():
    row = mapping_row({"UUID": "u", "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:orders",
                       "State": "Enabled", "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0,
                       "LastProcessingResult": "OK", "FilterCriteria": {"Filters": [{"Pattern": "{}"}]}})
    assert row == ["u", "queue", "orders", "Enabled", "10", "0", "1", "OK"]


def test_a_topic_trigger_takes_one_filter_policy_and_no_batch_options():
    from faas.cli.triggers import topic_policy

    assert topic_policy(parse("add", "fn", "--topic", "t")) == {}
    assert topic_policy(parse("add", "fn", "--topic", "t", "--filter", '{"kind": ["order"]}')) == {
        "FilterPolicy": '{"kind": ["order"]}'}
    for argv in (("--filter", "{}", "--filter", "{}"), ("--batch-size", "5"), ("--disabled",), ("--filter", "{no")):
        with pytest.raises(ConfigError):
            topic_policy(parse("add", "fn", "--topic", "t", *argv))
    assert cli.main(["triggers", "add", "fn", "--queue", "q", "--topic", "t"]) == 2


def test_subscription_rows_and_statement_ids():
    from faas.cli.triggers import statement_id, subscribes, subscription_row

    found = {"SubscriptionArn": "arn:aws:sns:us-east-1:000000000000:orders:1a2b", "Protocol": "lambda",
             "Endpoint": "arn:aws:lambda:us-east-1:000000000000:function:fn",
             "TopicArn": "arn:aws:sns:us-east-1:000000000000:orders"}
    assert subscription_row(found) == [found["SubscriptionArn"], "topic", "orders", "Enabled", "", "", "", ""]
    assert subscribes(found, "fn") and subscribes(found, found["Endpoint"]) and not subscribes(found, "f")
    assert not subscribes({**found, "Protocol": "sqs"}, "fn")
    assert statement_id("arn:aws:sns:us-east-1:000000000000:ledger.fifo") == "sns-ledger.fifo"
    assert len(statement_id("arn:aws:sns:r:1:" + "t" * 256)) == 100
