"""Schedules (EventBridge Scheduler) against a real `faas serve` with real containers, on SQLite and on
PostgreSQL, driven through boto3's `scheduler` client on the controllable clock (FAAS_CLOCK_FILE): the API and its errors, every expression kind,
a time zone across both DST changes, one-time schedules deleted after completion, disabled schedules, start
and end dates, queue and function targets, retries to a dead-letter queue, and catch-up after a restart."""

from __future__ import annotations

import datetime as dt
import json
import signal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import Server, make_zip, unique, wait_for
from tests.e2e.test_event_source_mappings_e2e import database
from tests.e2e.test_security_e2e import audit, make_principal
from tests.e2e.test_sns_e2e import sns_client
from tests.e2e.test_sqs_e2e import sqs_client

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = "scheduler-runner"  # the schedules' execution role: may invoke functions and send to queues
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
NOBODY_ARN = f"arn:aws:iam::{ACCOUNT}:role/faas-default"  # allowed nothing
START = dt.datetime(2026, 3, 27, 12, 0, tzinfo=dt.timezone.utc)
CONTEXT = '{"at": "<aws.scheduler.scheduled-time>", "arn": "<aws.scheduler.schedule-arn>", "tag": "%s"}'
HANDLER = '''
import json
def handler(event, context):
    print("SCHEDULED " + json.dumps(event))
    return event
'''


def scheduler_client(server: Server, credentials: Any = None) -> Any:
    credentials = credentials or server.credentials()
    return boto3.client(
        "scheduler", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60,
                      parameter_validation=False))  # the server must catch bad input itself


def set_clock(path: Path, instant: dt.datetime) -> None:
    path.write_text(instant.isoformat())


def with_runner_role(server: Server) -> Server:
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": ROLE}).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (201, 409), (status, body[:500])
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction", "sqs:SendMessage", "sns:Publish"], "Resource": "*"}]}}
    status, _, body = server.request("PUT", f"/faas/v1/roles/{ROLE}/policies/run", json.dumps(document).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    return server


@pytest.fixture(scope="module")
def clock(store_url, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "now"
    set_clock(path, START)
    return path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request):  # type: ignore[no-untyped-def]
    with database(request.param) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: Path, store_url):  # type: ignore[no-untyped-def]
    srv = with_runner_role(Server(tmp_path_factory.mktemp("faas") / "data", database_url=store_url,
                                  extra_env={"FAAS_CLOCK_FILE": str(clock)}).start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def scheduler(server: Server) -> Any:
    return scheduler_client(server)


@pytest.fixture(scope="module")
def sqs(server: Server) -> Any:
    return sqs_client(server)


def queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("sched-q"))["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create(scheduler: Any, target_arn: str, expression: str, tag: str = "", **params: Any) -> str:
    name = params.pop("Name", None) or unique("sched")
    target = {"Arn": target_arn, "RoleArn": params.pop("RoleArn", ROLE_ARN), "Input": CONTEXT % tag,
              **params.pop("Target", {})}
    scheduler.create_schedule(Name=name, ScheduleExpression=expression, Target=target,
                              FlexibleTimeWindow=params.pop("FlexibleTimeWindow", {"Mode": "OFF"}), **params)
    return name


def receive(sqs: Any, url: str, count: int, timeout: float = 30) -> list[dict]:
    """`count` messages' JSON bodies, in the order they arrived."""
    got: list[dict] = []

    def more() -> bool:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           MessageAttributeNames=["All"]).get("Messages", []):
            got.append({"body": json.loads(message["Body"]), "attributes": message.get("MessageAttributeNames")
                        or message.get("MessageAttributes", {})})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= count

    wait_for(more, timeout=timeout)
    return got


def times(messages: list[dict]) -> list[str]:
    return [message["body"]["at"] for message in messages]


def refused(call, code: str, status: int, **params: Any) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (status, code), error
    assert error["Message"]
    return error["Message"]


# -- the API --------------------------------------------------------------------------------------


def test_schedules_and_groups_in_the_schedulers_shapes(server, scheduler, sqs):
    _, queue_arn = queue(sqs)
    groups = scheduler.list_schedule_groups()["ScheduleGroups"]
    assert [g["Name"] for g in groups if g["Name"] == "default"] == ["default"]
    group = unique("grp")
    group_arn = scheduler.create_schedule_group(Name=group)["ScheduleGroupArn"]
    assert group_arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"
    assert scheduler.get_schedule_group(Name=group)["State"] == "ACTIVE"

    name = unique("nightly")
    arn = scheduler.create_schedule(
        Name=name, GroupName=group, ScheduleExpression="cron(0 2 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Berlin", Description="the nightly job", State="DISABLED",
        StartDate=START + dt.timedelta(days=1), EndDate=START + dt.timedelta(days=30),
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={"Arn": queue_arn, "RoleArn": ROLE_ARN, "Input": "{}",
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}})["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{name}"
    got = scheduler.get_schedule(Name=name, GroupName=group)
    assert (got["Arn"], got["Name"], got["GroupName"], got["ScheduleExpression"], got["ScheduleExpressionTimezone"],
            got["Description"], got["State"], got["FlexibleTimeWindow"], got["ActionAfterCompletion"]) == \
        (arn, name, group, "cron(0 2 ? * MON-FRI *)", "Europe/Berlin", "the nightly job", "DISABLED",
         {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, "NONE")
    assert got["StartDate"] == START + dt.timedelta(days=1) and got["EndDate"] == START + dt.timedelta(days=30)
    assert got["Target"] == {"Arn": queue_arn, "RoleArn": ROLE_ARN, "Input": "{}",
                             "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}}
    assert got["CreationDate"] == START or got["CreationDate"] >= START  # on the schedule clock

    # Update replaces the settings; the default group is where a schedule without GroupName lives.
    scheduler.update_schedule(Name=name, GroupName=group, ScheduleExpression="rate(5 minutes)", State="ENABLED",
                              FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": queue_arn, "RoleArn": ROLE_ARN})
    got = scheduler.get_schedule(Name=name, GroupName=group)
    assert (got["ScheduleExpression"], got["State"], got["Description"]) == ("rate(5 minutes)", "ENABLED", "")
    assert got["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert "StartDate" not in got

    others = [create(scheduler, queue_arn, "rate(1 hour)", Name=f"{name}-{i}", State="DISABLED",
                     GroupName=group) for i in range(3)]
    listed = scheduler.list_schedules(GroupName=group)["Schedules"]
    assert [s["Name"] for s in listed] == sorted([name, *others])
    assert listed[0]["Target"] == {"Arn": queue_arn} and listed[0]["Arn"].endswith(f"/{group}/{listed[0]['Name']}")
    assert [s["Name"] for s in scheduler.list_schedules(GroupName=group, State="ENABLED")["Schedules"]] == [name]
    assert len(scheduler.list_schedules(NamePrefix=f"{name}-")["Schedules"]) == 3  # every group's, as AWS lists
    assert len(scheduler.list_schedules(GroupName="default", NamePrefix=f"{name}-")["Schedules"]) == 0
    pages = list(scheduler.get_paginator("list_schedules").paginate(GroupName=group,
                                                                      PaginationConfig={"PageSize": 2}))
    assert [len(page["Schedules"]) for page in pages] == [2, 2]
    assert [s["Name"] for page in pages for s in page["Schedules"]] == [s["Name"] for s in listed]

    scheduler.delete_schedule(Name=others[0], GroupName=group)
    refused(scheduler.get_schedule, "ResourceNotFoundException", 404, Name=others[0], GroupName=group)
    # Deleting the group deletes its schedules.
    scheduler.delete_schedule_group(Name=group)
    refused(scheduler.get_schedule, "ResourceNotFoundException", 404, Name=name, GroupName=group)
    refused(scheduler.get_schedule_group, "ResourceNotFoundException", 404, Name=group)
    # The calls were authorised as scheduler:* on the schedule's ARN, and the changes audited.
    actions = {(entry["Action"], entry["Resource"]) for entry in audit(server)}
    assert ("scheduler:CreateSchedule", arn) in actions and ("scheduler:DeleteScheduleGroup", group_arn) in actions


def test_bad_input_gets_the_schedulers_errors_and_changes_nothing(server, scheduler, sqs):
    _, queue_arn = queue(sqs)
    name = create(scheduler, queue_arn, "rate(1 hour)", State="DISABLED")
    before = scheduler.get_schedule(Name=name)
    target = {"Arn": queue_arn, "RoleArn": ROLE_ARN}
    off = {"Mode": "OFF"}
    cases = [
        ("cron(0 12 * * * *)", target, "ValidationException", 400),  # neither day field is ?
        ("cron(61 * * * ? *)", target, "ValidationException", 400),
        ("rate(0 minutes)", target, "ValidationException", 400),
        ("at(2020-01-01T00:00:00)", target, "ValidationException", 400),  # in the past (of the schedule clock)
        ("rate(1 hour)", {**target, "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:no-such-queue"}, "ValidationException", 400),
        ("rate(1 hour)", {**target, "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"},
         "ValidationException", 400),
        ("rate(1 hour)", {**target, "Arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"}, "ValidationException", 400),
        ("rate(1 hour)", {**target, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/no-such-role"}, "ValidationException", 400),
        ("rate(1 hour)", {**target, "RetryPolicy": {"MaximumRetryAttempts": 186}}, "ValidationException", 400),
        ("rate(1 hour)", {**target, "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:nope"}},
         "ValidationException", 400),
    ]
    for expression, bad_target, code, status in cases:
        refused(scheduler.create_schedule, code, status, Name=unique("bad"), ScheduleExpression=expression,
                Target=bad_target, FlexibleTimeWindow=off)
        refused(scheduler.update_schedule, code, status, Name=name, ScheduleExpression=expression,
                Target=bad_target, FlexibleTimeWindow=off)
    refused(scheduler.create_schedule, "ValidationException", 400, Name=unique("bad"),
            ScheduleExpression="rate(1 hour)", ScheduleExpressionTimezone="Mars/Base", Target=target,
            FlexibleTimeWindow=off)
    refused(scheduler.create_schedule, "ValidationException", 400, Name=unique("bad"),
            ScheduleExpression="rate(1 hour)", Target=target, FlexibleTimeWindow={"Mode": "FLEXIBLE"})
    refused(scheduler.create_schedule, "ValidationException", 400, Name="bad name!",
            ScheduleExpression="rate(1 hour)", Target=target, FlexibleTimeWindow=off)
    refused(scheduler.create_schedule, "ConflictException", 409, Name=name, ScheduleExpression="rate(1 hour)",
            Target=target, FlexibleTimeWindow=off)
    # The same request again, with its ClientToken (a client's retry), is answered as the first time.
    again = dict(Name=unique("retried"), ScheduleExpression="rate(1 hour)", Target=target, FlexibleTimeWindow=off,
                 State="DISABLED", ClientToken="retry-token-1")
    assert scheduler.create_schedule(**again)["ScheduleArn"] == scheduler.create_schedule(**again)["ScheduleArn"]
    refused(scheduler.create_schedule, "ConflictException", 409, **{**again, "ClientToken": "another-token"})
    scheduler.delete_schedule(Name=again["Name"])
    refused(scheduler.create_schedule, "ResourceNotFoundException", 404, Name=unique("bad"), GroupName="nope",
            ScheduleExpression="rate(1 hour)", Target=target, FlexibleTimeWindow=off)
    refused(scheduler.get_schedule, "ResourceNotFoundException", 404, Name=unique("nope"))
    refused(scheduler.delete_schedule, "ResourceNotFoundException", 404, Name=unique("nope"))
    refused(scheduler.delete_schedule_group, "ValidationException", 400, Name="default")
    refused(scheduler.create_schedule_group, "ConflictException", 409, Name="default")
    refused(scheduler.list_schedules, "ResourceNotFoundException", 404, GroupName="nope")
    after = scheduler.get_schedule(Name=name)
    assert {k: v for k, v in after.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in before.items() if k != "ResponseMetadata"}
    assert [s["Name"] for s in scheduler.list_schedules(NamePrefix="bad")["Schedules"]] == []


# -- firing on the controllable clock ---------------------------------------------------------------


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.timezone.utc)


def stamp(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def step(clock: Path, sqs: Any, url: str, to: dt.datetime, expected: list[tuple[str, dt.datetime]]) -> None:
    """Move the clock to `to` and see exactly the (tag, due time) firings expected arrive."""
    set_clock(clock, to)
    messages = receive(sqs, url, len(expected)) if expected else []
    assert sorted((m["body"]["tag"], m["body"]["at"]) for m in messages) == \
        sorted((tag, stamp(due)) for tag, due in expected)


def test_a_berlin_cron_across_both_daylight_saving_changes(clock, scheduler, sqs):
    url, queue_arn = queue(sqs)
    # Spring forward, 2026-03-29: 02:00 becomes 03:00 in Berlin, so 02:30 does not exist that day and is skipped.
    set_clock(clock, utc(2026, 3, 27, 12))
    spring = create(scheduler, queue_arn, "cron(30 2 * * ? *)", "berlin", ScheduleExpressionTimezone="Europe/Berlin")
    # A probe just after where a wrong clock would fire (03:00 CEST, 01:00 UTC): deliveries go out in the order
    # they were fired, so when the probe arrives, a firing that day would have arrived before it.
    create(scheduler, queue_arn, "at(2026-03-29T01:00:30)", "probe")
    step(clock, sqs, url, utc(2026, 3, 28, 1, 30, 1), [("berlin", utc(2026, 3, 28, 1, 30))])  # 02:30 CET
    step(clock, sqs, url, utc(2026, 3, 29, 1, 1), [("probe", utc(2026, 3, 29, 1, 0, 30))])
    step(clock, sqs, url, utc(2026, 3, 30, 0, 30, 1), [("berlin", utc(2026, 3, 30, 0, 30))])  # 02:30 CEST
    scheduler.delete_schedule(Name=spring)

    # Fall back, 2026-10-25: 03:00 becomes 02:00 again, so 02:30 happens twice and runs once, the first time.
    set_clock(clock, utc(2026, 10, 24, 12))
    create(scheduler, queue_arn, "cron(30 2 * * ? *)", "berlin", ScheduleExpressionTimezone="Europe/Berlin")
    create(scheduler, queue_arn, "at(2026-10-25T01:31:00)", "probe")
    step(clock, sqs, url, utc(2026, 10, 25, 0, 30, 1), [("berlin", utc(2026, 10, 25, 0, 30))])  # 02:30 CEST
    step(clock, sqs, url, utc(2026, 10, 25, 1, 31, 1), [("probe", utc(2026, 10, 25, 1, 31))])  # not 02:30 CET
    step(clock, sqs, url, utc(2026, 10, 26, 1, 30, 1), [("berlin", utc(2026, 10, 26, 1, 30))])  # 02:30 CET


def test_every_expression_kind_dates_and_states(clock, scheduler, sqs):
    url, queue_arn = queue(sqs)
    t0 = utc(2026, 11, 2, 10)
    set_clock(clock, t0)
    create(scheduler, queue_arn, "rate(10 minutes)", "rate")  # fires at once, then every 10 minutes
    create(scheduler, queue_arn, "cron(15 10 * * ? *)", "cron")
    once = create(scheduler, queue_arn, "at(2026-11-02T10:20:00)", "at", ActionAfterCompletion="DELETE")
    kept = create(scheduler, queue_arn, "at(2026-11-02T10:21:00)", "kept")
    create(scheduler, queue_arn, "cron(16 10 * * ? *)", "off", State="DISABLED")
    create(scheduler, queue_arn, "rate(10 minutes)", "dated", StartDate=t0 + dt.timedelta(minutes=25),
           EndDate=t0 + dt.timedelta(minutes=40))
    minute = dt.timedelta(minutes=1)
    step(clock, sqs, url, t0 + dt.timedelta(seconds=1), [("rate", t0)])
    step(clock, sqs, url, t0 + 10 * minute, [("rate", t0 + 10 * minute)])
    step(clock, sqs, url, t0 + 16 * minute, [("cron", t0 + 15 * minute)])  # not "off", which is disabled
    step(clock, sqs, url, t0 + 21 * minute, [("rate", t0 + 20 * minute), ("at", t0 + 20 * minute),
                                             ("kept", t0 + 21 * minute)])
    refused(scheduler.get_schedule, "ResourceNotFoundException", 404, Name=once)  # ActionAfterCompletion DELETE
    assert scheduler.get_schedule(Name=kept)["State"] == "ENABLED"  # NONE: it stays, with nothing left to fire
    step(clock, sqs, url, t0 + 25 * minute, [("dated", t0 + 25 * minute)])
    step(clock, sqs, url, t0 + 30 * minute, [("rate", t0 + 30 * minute)])
    step(clock, sqs, url, t0 + 35 * minute, [("dated", t0 + 35 * minute)])
    step(clock, sqs, url, t0 + 41 * minute, [("rate", t0 + 40 * minute)])
    # "dated" ended at 10:40: it has no 10:45, so the next firing is the rate's 10:50.
    step(clock, sqs, url, t0 + 50 * minute, [("rate", t0 + 50 * minute)])


def test_a_function_target_gets_input_as_its_event(server, clock, scheduler, sqs):
    lam = server.client()
    name = unique("sched-fn")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE_ARN, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    t0 = utc(2026, 11, 3, 8)
    set_clock(clock, t0)
    create(scheduler, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", "at(2026-11-03T08:05:00)", "fn")
    set_clock(clock, t0 + dt.timedelta(minutes=5, seconds=1))

    def events() -> list[dict]:
        runs = server.get_json(f"/faas/v1/functions/{name}/logs?limit=50")["Invocations"]
        return [json.loads(line.split("SCHEDULED ", 1)[1]) for run in runs for line in run["Log"].splitlines()
                if "SCHEDULED " in line]

    got = wait_for(events, timeout=120)
    assert got == [{"at": "2026-11-03T08:05:00Z", "tag": "fn",
                    "arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{got[0]['arn'].rsplit('/', 1)[1]}"}]


def test_a_topic_target_publishes_input_as_the_message(server, clock, scheduler, sqs):
    sns = sns_client(server)
    topic_arn = sns.create_topic(Name=unique("sched-topic"))["TopicArn"]
    url, queue_arn = queue(sqs)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    t0 = utc(2026, 11, 3, 9)
    set_clock(clock, t0)
    create(scheduler, topic_arn, "at(2026-11-03T09:05:00)", "topic")
    step(clock, sqs, url, t0 + dt.timedelta(minutes=5, seconds=1), [("topic", t0 + dt.timedelta(minutes=5))])


def test_a_target_the_role_may_not_reach_is_retried_then_dead_lettered(server, clock, scheduler, sqs):
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": "scheduler-sender"}).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (201, 409), body
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}}
    status, _, body = server.request("PUT", "/faas/v1/roles/scheduler-sender/policies/send",
                                     json.dumps(document).encode(), {"Content-Type": "application/json"})
    assert status == 200, body
    lam = server.client()
    function = unique("sched-denied")
    lam.create_function(FunctionName=function, Runtime="python3.13", Role=ROLE_ARN, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    dlq_url, dlq_arn = queue(sqs)
    t0 = utc(2026, 11, 4, 8)
    set_clock(clock, t0)
    name = create(scheduler, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}", "at(2026-11-04T08:01:00)",
                  "denied", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/scheduler-sender",
                  Target={"RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600},
                          "DeadLetterConfig": {"Arn": dlq_arn}})
    set_clock(clock, t0 + dt.timedelta(minutes=1, seconds=1))
    message = sqs.receive_message  # the dead-letter event arrives after the first try and two retries (1 s, 2 s)
    got = wait_for(lambda: message(QueueUrl=dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"])
                   .get("Messages"), timeout=60)[0]
    assert json.loads(got["Body"]) == {"at": "2026-11-04T08:01:00Z", "tag": "denied",
                                       "arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"}
    attributes = {key: value["StringValue"] for key, value in got["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccessDeniedException" and "lambda:InvokeFunction" in attributes["ERROR_MESSAGE"]
    assert (attributes["RETRY_ATTEMPTS"], attributes["EXHAUSTED_RETRY_CONDITION"]) == ("2", "MaximumRetryAttempts")
    assert attributes["SCHEDULE_ARN"].endswith(f"/default/{name}") and attributes["TARGET_ARN"].endswith(function)
    assert server.get_json(f"/faas/v1/functions/{function}/logs?limit=5")["Invocations"] == []


def test_a_flexible_window_fires_inside_the_window(clock, scheduler, sqs):
    url, queue_arn = queue(sqs)
    t0 = utc(2026, 11, 5, 5)
    set_clock(clock, t0)
    create(scheduler, queue_arn, "at(2026-11-05T05:10:00)", "flex",
           FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10})
    # Somewhere in 05:10-05:20, spread by schedule and due time: by 05:20 it has fired, naming its due time.
    step(clock, sqs, url, t0 + dt.timedelta(minutes=20), [("flex", t0 + dt.timedelta(minutes=10))])


def test_callers_are_authorised_per_schedule_and_pass_the_role(server, scheduler, sqs):
    _, queue_arn = queue(sqs)
    prefix = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default"
    statements = [{"Effect": "Allow", "Action": "scheduler:*", "Resource": f"{prefix}/own-*"}]
    refuser = make_principal(server, unique("sched-nopass"), statements)
    passer = make_principal(server, unique("sched-pass"), statements + [
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE_ARN}])
    target = {"Arn": queue_arn, "RoleArn": ROLE_ARN}
    params = {"ScheduleExpression": "rate(1 hour)", "Target": target, "FlexibleTimeWindow": {"Mode": "OFF"},
              "State": "DISABLED"}
    # Naming the execution role is passing it: without iam:PassRole on it, refused and audited.
    refused(scheduler_client(server, refuser).create_schedule, "AccessDeniedException", 403,
            Name=unique("own"), **params)
    mine = scheduler_client(server, passer)
    name = unique("own")
    mine.create_schedule(Name=name, **params)
    assert mine.get_schedule(Name=name)["Name"] == name
    # Only its own schedules: another name's ARN is not covered.
    refused(mine.create_schedule, "AccessDeniedException", 403, Name=unique("other"), **params)
    refused(mine.get_schedule, "AccessDeniedException", 403, Name="other-thing")
    denied = [e for e in audit(server) if e["Action"] == "iam:PassRole" or
              (e["Action"] == "scheduler:CreateSchedule" and e["Outcome"] == "denied")]
    assert denied
    mine.delete_schedule(Name=name)


def test_a_restart_fires_what_is_still_in_its_window_and_skips_the_rest(server, clock, sqs):
    scheduler = scheduler_client(server)
    url, queue_arn = queue(sqs)
    t0 = utc(2026, 11, 5, 6)
    set_clock(clock, t0)
    name = create(scheduler, queue_arn, "rate(1 hour)", "hourly")
    assert times(receive(sqs, url, 1)) == [stamp(t0)]
    server.stop()
    # Down from 06:00 to 09:03: 07:00 and 08:00 are missed by more than the 5-minute grace and are skipped (and
    # recorded); 09:00 is 3 minutes late, inside it, and fires when the node is back.
    set_clock(clock, t0 + dt.timedelta(hours=3, minutes=3))
    server.start()
    scheduler, sqs = scheduler_client(server), sqs_client(server)
    assert times(receive(sqs, url, 1, timeout=60)) == [stamp(t0 + dt.timedelta(hours=3))]
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    assert f"schedule {arn}: skipped 2 due times missed by more than their window (the last " \
           f"{(t0 + dt.timedelta(hours=2)).isoformat()})" in server.output()
    assert [e["Resource"] for e in audit(server)
            if e["Action"] == "scheduler:SkipDueTimes" and e["Resource"] == arn] == [arn]
    scheduler.delete_schedule(Name=name)


def test_a_delivery_survives_a_crash_and_arrives_once(server, clock):
    """SIGKILL while a firing's delivery is being retried (the role may not send yet): the firing is not redone,
    and the delivery, durable leased work, is taken up again after the restart and arrives once."""
    scheduler, sqs = scheduler_client(server), sqs_client(server)
    url, queue_arn = queue(sqs)
    role = unique("sched-late")
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": role}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 201, body
    t0 = utc(2026, 11, 6, 6)
    set_clock(clock, t0)
    create(scheduler, queue_arn, "at(2026-11-06T06:01:00)", "crash", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}")
    set_clock(clock, t0 + dt.timedelta(minutes=1, seconds=1))
    wait_for(lambda: "delivery failed (The execution role" in server.output(), timeout=60)
    server.stop(signal.SIGKILL)
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}]}}
    server.start()
    status, _, body = server.request("PUT", f"/faas/v1/roles/{role}/policies/send", json.dumps(document).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200, body
    sqs = sqs_client(server)
    assert times(receive(sqs, url, 1, timeout=90)) == ["2026-11-06T06:01:00Z"]
    # A probe fired later than any retry of the first delivery would come: nothing else arrived before it.
    create(scheduler_client(server), queue_arn, "at(2026-11-06T06:30:00)", "probe")
    set_clock(clock, t0 + dt.timedelta(minutes=30, seconds=1))
    assert [m["body"]["tag"] for m in receive(sqs, url, 1, timeout=60)] == ["probe"]
