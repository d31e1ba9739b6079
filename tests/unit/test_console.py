"""The console's pure parts: bucketing invocation records for the charts, the SVG they become, the
environment form's edits (masked values kept unless retyped), CSRF tokens, and where sign-in may send."""

from __future__ import annotations

import datetime as dt

from faas.api.console import charts
from faas.api.console.functions import edited_environment
from faas.api.console.signin import _next
from faas.model import InvocationRecord
from faas.services.console_sessions import csrf_matches, csrf_token, session_hash

END = dt.datetime(2026, 12, 1, 12, 30, 30, tzinfo=dt.timezone.utc)
MINUTE = dt.timedelta(minutes=1)


def record(minutes_ago: float, duration_ms: float, outcome: str = "success", cold: bool = False) -> InvocationRecord:
    return InvocationRecord(request_id="r", function_name="f", started_at=END - dt.timedelta(minutes=minutes_ago),
                            duration_ms=duration_ms, billed_duration_ms=100, memory_size=128, max_memory_used_mb=10,
                            init_duration_ms=None, cold=cold, outcome=outcome, error_type=None, log="")


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert charts.percentile(values, 50) == 50 and charts.percentile(values, 99) == 99
    assert charts.percentile([7.0], 99) == 7.0 and charts.percentile([], 50) == 0.0


def test_records_fall_into_minute_buckets_ending_at_now():
    rows = charts.buckets([record(0, 10, cold=True), record(0.2, 30, "error"), record(2, 5, "timeout"),
                           record(90, 1)],  # older than the window: not drawn
                          END, 5, MINUTE)
    assert [b.start for b in rows] == [dt.datetime(2026, 12, 1, 12, m, tzinfo=dt.timezone.utc) for m in range(26, 31)]
    assert [b.invocations for b in rows] == [0, 0, 1, 0, 2]
    assert [b.errors for b in rows] == [0, 0, 1, 0, 1]
    assert [b.cold_starts for b in rows] == [0, 0, 0, 0, 1]
    assert (rows[-1].p50_ms, rows[-1].p99_ms) == (10, 30)


def test_a_chart_is_svg_with_escaped_text_and_a_line_per_series():
    drawn = charts.svg("<b>Duration</b>", [END - MINUTE, END], {"p50": [1, 2], "p99": [3, 4]}, " ms")
    assert drawn.startswith("<svg") and drawn.endswith("</svg>")
    assert "<b>" not in drawn and "&lt;b&gt;Duration" in drawn
    assert drawn.count("<polyline") == 2 and 'data-total="7"' in drawn
    assert "4 ms" in drawn  # the axis' top


def test_the_four_function_charts():
    drawn = charts.function_charts([record(0, 10)], END)
    assert [c.split("<title>")[1].split("</title>")[0] for c in drawn] == [
        "Invocations", "Errors", "Duration (ms)", "Cold starts"]


def test_an_environment_edit_keeps_masked_values_unless_retyped():
    current = {"B": "old-b", "A": "old-a", "C": "old-c"}  # the form lists them sorted: A, B, C
    form = {"value_0": "", "value_1": "new-b", "remove_2": "1", "new_name": "D", "new_value": "d"}
    assert edited_environment(current, form) == {"A": "old-a", "B": "new-b", "D": "d"}
    assert edited_environment(current, {}) == current


def test_csrf_tokens_belong_to_their_session():
    token = csrf_token("session-one")
    assert csrf_matches("session-one", token)
    assert not csrf_matches("session-two", token) and not csrf_matches("session-one", "")
    assert token != session_hash("session-one")  # the stored hash does not give the token away


def test_sign_in_sends_only_to_console_pages():
    assert _next("/console/functions/x") == "/console/functions/x"
    for elsewhere in ("https://evil.example/", "//evil.example/console/", "/console//evil.example", None, "/health"):
        assert _next(elsewhere) == "/console/functions"


def test_prices_are_plain_decimals():
    from faas.api.console.web import dollars
    assert dollars(0.0000166667) == "$0.0000166667" and dollars(0.2) == "$0.2" and dollars(0) == "$0"
    assert dollars(12.5) == "$12.5"
