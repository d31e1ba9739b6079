"""Schedules on more than one node and on the real clock: two `faas serve` processes on one PostgreSQL database
fire each due time exactly once, with no leader; and a rate(1 minute) schedule fires for real."""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_postgres_e2e import drop_database, psql
from tests.e2e.test_schedules_e2e import create, queue, receive, scheduler_client, set_clock, stamp, utc, \
    with_runner_role
from tests.e2e.test_sqs_e2e import sqs_client


@pytest.mark.postgres
def test_two_nodes_on_one_database_fire_each_due_time_once(tmp_path: Path):
    admin = os.environ.get("FAAS_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("FAAS_TEST_POSTGRES_URL is not set")
    database = f"faas_sched_{uuid.uuid4().hex[:10]}"
    psql(admin, f"CREATE DATABASE {database}")
    url = admin.rsplit("/", 1)[0] + "/" + database
    clock = tmp_path / "now"
    t0 = utc(2026, 6, 1, 12)
    set_clock(clock, t0)
    nodes: list[Server] = []
    try:
        env = {"FAAS_CLOCK_FILE": str(clock), "FAAS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        first = with_runner_role(Server(tmp_path / "a", database_url=url, extra_env=env).start())
        nodes.append(first)
        second = Server(tmp_path / "b", database_url=url, extra_env=env).start()
        nodes.append(second)
        sqs = sqs_client(first)
        queue_url, queue_arn = queue(sqs)
        # Schedules made on both nodes, so each node's wake-up is hit by changes it did not see.
        schedulers = [scheduler_client(first), scheduler_client(second, first.credentials())]
        names = [create(schedulers[i % 2], queue_arn, "cron(* * * * ? *)", f"s{i}") for i in range(10)]
        minutes, got = 5, []
        for minute in range(1, minutes + 1):
            # Both nodes wake at the same due time and race for each schedule's swap.
            set_clock(clock, t0 + dt.timedelta(minutes=minute, seconds=1))
            got += receive(sqs, queue_url, 10, timeout=60)
        # A duplicate would be fired in the same pass as its original, so it would be read with that minute's
        # batch or the next one's (the last minute's batch is the only one nothing is read after).
        counts = Counter((m["body"]["tag"], m["body"]["at"]) for m in got)
        expected = {(f"s{i}", stamp(t0 + dt.timedelta(minutes=m))) for i in range(10) for m in range(1, minutes + 1)}
        assert set(counts) == expected and set(counts.values()) == {1}
        # Every step was inside the grace: nothing was skipped on either node.
        assert "skipped" not in first.output() + second.output()
        for name in names:
            schedulers[0].delete_schedule(Name=name)
    finally:
        for node in nodes:
            node.stop()
        drop_database(admin, database)


def test_a_rate_schedule_fires_on_the_real_clock(tmp_path: Path):
    server = with_runner_role(Server(tmp_path / "data").start())
    try:
        scheduler, sqs = scheduler_client(server), sqs_client(server)
        queue_url, queue_arn = queue(sqs)
        created = dt.datetime.now(dt.timezone.utc)
        name = create(scheduler, queue_arn, "rate(1 minute)", "real")
        # The first firing is at creation; the second a minute later, by the real clock.
        got = receive(sqs, queue_url, 2, timeout=150)
        first, second = (dt.datetime.strptime(m["body"]["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
                         for m in got)
        assert second - first == dt.timedelta(minutes=1)
        assert first >= created.replace(microsecond=0)
        assert dt.datetime.now(dt.timezone.utc) >= second
        scheduler.delete_schedule(Name=name)
    finally:
        server.stop()
