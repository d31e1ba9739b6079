"""Floods of refusals fold into few audit rows (faas.dispatch.refusals), and the recorder's buffer is bounded."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from faas.dispatch import recorder as recorder_module
from faas.dispatch.recorder import Recorder
from faas.dispatch.refusals import RefusalCoalescer, summary_resource
from faas.store.audit import AuditEntry

T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def entry(n: int = 0, *, outcome: str = "denied", ip: str = "10.0.0.1", action: str = "lambda:ListFunctions",
          principal: str = "anonymous", status: int = 403) -> AuditEntry:
    return AuditEntry(at=T0 + dt.timedelta(seconds=n), principal=principal, action=action,
                      resource=f"arn:aws:lambda:us-east-1:000000000000:function:f{n}", status=status,
                      outcome=outcome, request_id=f"req-{n}", source_ip=ip)


def test_the_first_refusal_is_written_and_the_rest_of_its_window_becomes_one_counted_row():
    coalescer = RefusalCoalescer(window_s=60)
    assert coalescer.offer(entry(0), now=0.0) == [entry(0)]
    for n in range(1, 500):
        assert coalescer.offer(entry(n), now=n / 10) == []
    assert coalescer.closed(now=59.9) == []  # still open
    [summary] = coalescer.closed(now=60.0)
    assert summary.resource == summary_resource(499, 60) == "499 more refusals like this within 60 s"
    # The summary keeps who, from where, what and when last; the count stands in for the resources.
    assert (summary.principal, summary.source_ip, summary.action, summary.status, summary.outcome) == (
        "anonymous", "10.0.0.1", "lambda:ListFunctions", 403, "denied")
    assert summary.at == entry(499).at and summary.request_id == "req-499"
    assert coalescer.closed(now=120.0) == [] and coalescer.drain() == []
    assert coalescer.offer(entry(600), now=130.0) == [entry(600)]  # a new window starts with a full row


def test_a_lone_refusal_leaves_no_summary():
    coalescer = RefusalCoalescer(window_s=60)
    assert coalescer.offer(entry(0), now=0.0) == [entry(0)]
    assert coalescer.closed(now=61.0) == []


def test_a_refusal_after_its_window_ended_brings_the_summary_with_it():
    coalescer = RefusalCoalescer(window_s=60)
    coalescer.offer(entry(0), now=0.0)
    coalescer.offer(entry(1), now=1.0)
    summary, fresh = coalescer.offer(entry(2), now=61.0)  # before any sweep
    assert summary.resource == summary_resource(1, 60) and fresh == entry(2)
    assert coalescer.offer(entry(3), now=62.0) == []  # counted in the new window


@pytest.mark.parametrize("other", [
    {"ip": "10.0.0.2"}, {"action": "lambda:GetFunction"}, {"principal": "arn:aws:iam::000000000000:user/x"},
    {"status": 400},
])
def test_windows_are_per_caller_address_action_and_status(other):
    coalescer = RefusalCoalescer(window_s=60)
    coalescer.offer(entry(0), now=0.0)
    assert coalescer.offer(entry(1, **other), now=1.0) == [entry(1, **other)]


@pytest.mark.parametrize("outcome", ["allowed", "failed"])
def test_only_refusals_are_folded(outcome):
    coalescer = RefusalCoalescer(window_s=60)
    for n in range(5):
        assert coalescer.offer(entry(n, outcome=outcome), now=float(n)) == [entry(n, outcome=outcome)]
    assert coalescer.drain() == []


def test_past_max_windows_new_sources_pass_through_uncounted():
    coalescer = RefusalCoalescer(window_s=60, max_windows=2)
    coalescer.offer(entry(0, ip="a"), now=0.0)
    coalescer.offer(entry(0, ip="b"), now=0.0)
    assert coalescer.offer(entry(1, ip="c"), now=1.0) == [entry(1, ip="c")]
    assert coalescer.offer(entry(2, ip="c"), now=2.0) == [entry(2, ip="c")]  # no window was opened for it
    assert coalescer.offer(entry(3, ip="a"), now=3.0) == []


def test_drain_summarises_open_windows():
    coalescer = RefusalCoalescer(window_s=60)
    coalescer.offer(entry(0), now=0.0)
    coalescer.offer(entry(1), now=1.0)
    coalescer.offer(entry(2), now=2.0)
    [summary] = coalescer.drain()
    assert summary.resource == summary_resource(2, 60)


class FakeSink:
    def __init__(self) -> None:
        self.rows: list = []

    async def add_many(self, items: list) -> None:
        self.rows.extend(items)


async def test_a_flood_through_the_audit_recorder_writes_two_rows_and_loses_no_count(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(recorder_module.time, "monotonic", lambda: clock[0])
    sink = FakeSink()
    audit = Recorder(sink, max_pending=100, coalescer=RefusalCoalescer(window_s=60))
    for n in range(10_000):
        audit.add(entry(n))
    await audit.flush()
    assert sink.rows == [entry(0)] and audit.dropped == 0
    await audit.stop()  # a clean stop writes the open window's count
    assert [row.resource for row in sink.rows[1:]] == [summary_resource(9_999, 60)]


async def test_a_full_buffer_drops_and_counts_instead_of_growing(caplog):
    sink = FakeSink()
    audit = Recorder(sink, max_pending=3)
    for n in range(10):
        audit.add(entry(n, outcome="allowed"))
    assert audit.dropped == 7
    await audit.flush()
    assert sink.rows == [entry(n, outcome="allowed") for n in range(3)]
    assert "dropped 7 records" in caplog.text
    audit.add(entry(11, outcome="allowed"))  # room again once written
    await audit.flush()
    assert sink.rows[-1] == entry(11, outcome="allowed") and audit.dropped == 7


async def test_without_a_bound_every_record_is_kept():
    sink = FakeSink()
    invocations = Recorder(sink)
    for n in range(2_000):
        invocations.add(n)
    await invocations.flush()
    assert sink.rows == list(range(2_000))


def test_a_known_principals_refusals_keep_what_each_aimed_at():
    """Anonymous refusals fold whatever they aimed at; a principal's fold only when they aim at one resource,
    so the audit trail still names every function a known caller was refused."""
    reader = "arn:aws:iam::000000000000:user/reader"
    coalescer = RefusalCoalescer(window_s=60)
    assert coalescer.offer(entry(1, principal=reader), now=0.0) == [entry(1, principal=reader)]
    assert coalescer.offer(entry(2, principal=reader), now=1.0) == [entry(2, principal=reader)]
    again = dataclasses.replace(entry(2, principal=reader), request_id="req-again")
    assert coalescer.offer(again, now=2.0) == []  # the same resource again: counted
    assert coalescer.offer(entry(1), now=3.0) == [entry(1)]
    assert coalescer.offer(entry(2), now=4.0) == []  # anonymous, another resource: counted all the same
