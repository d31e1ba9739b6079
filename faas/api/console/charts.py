"""Per-function charts, drawn on the server as SVG: invocation records bucketed over time (pure), then
each series as a polyline on a small axis. No script and no chart library reach the browser."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable

from markupsafe import Markup, escape

from faas.model import InvocationRecord

WIDTH, HEIGHT = 480, 160
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 22, 22  # room for the axis labels
COLOURS = ("#2563eb", "#dc2626", "#16a34a")


@dataclasses.dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    invocations: int
    errors: int  # errors and timeouts, as Lambda's Errors metric counts them
    p50_ms: float
    p99_ms: float
    cold_starts: int


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def buckets(records: Iterable[InvocationRecord], end: dt.datetime, count: int, step: dt.timedelta) -> list[Bucket]:
    """`count` buckets of `step` ending at `end` (the last one holds `end`), oldest first."""
    first = end - step * (count - 1)
    first = first - dt.timedelta(seconds=first.timestamp() % step.total_seconds())
    durations: list[list[float]] = [[] for _ in range(count)]
    errors, cold = [0] * count, [0] * count
    for record in records:
        index = int((record.started_at - first) / step)
        if not 0 <= index < count:
            continue
        durations[index].append(record.duration_ms)
        errors[index] += record.outcome != "success"
        cold[index] += record.cold
    return [Bucket(start=first + step * i, invocations=len(durations[i]), errors=errors[i],
                   p50_ms=percentile(durations[i], 50), p99_ms=percentile(durations[i], 99), cold_starts=cold[i])
            for i in range(count)]


def _label(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def svg(title: str, times: list[dt.datetime], series: dict[str, list[float]], unit: str = "") -> Markup:
    """A line chart of one or more series over the same times, as inline SVG with a text fallback."""
    top = max((max(values, default=0) for values in series.values()), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(times) - 1, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>',
             f'<text x="{LEFT}" y="14" class="chart-title">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" class="axis"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" class="axis"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" class="tick">{_label(top)}{escape(unit)}</text>',
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" class="tick">0</text>']
    if times:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" class="tick">{times[0]:%H:%M}</text>')
        parts.append(f'<text x="{LEFT + plot_w}" y="{HEIGHT - 6}" text-anchor="end" class="tick">'
                     f'{times[-1]:%H:%M} UTC</text>')
    for (name, values), colour in zip(series.items(), COLOURS):
        points = " ".join(f"{LEFT + i * step:.1f},{TOP + plot_h - value / top * plot_h:.1f}"
                          for i, value in enumerate(values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'data-series="{escape(name)}" data-total="{sum(values):g}"/>')
    legend_x = LEFT + plot_w
    for name, colour in reversed(list(zip(series, COLOURS))):
        parts.append(f'<text x="{legend_x}" y="14" text-anchor="end" fill="{colour}" class="legend">'
                     f'{escape(name)}</text>')
        legend_x -= 9 * len(name) + 14
    parts.append("</svg>")
    return Markup("".join(parts))


def function_charts(records: Iterable[InvocationRecord], end: dt.datetime, count: int = 60,
                    step: dt.timedelta = dt.timedelta(minutes=1)) -> list[Markup]:
    """The four charts of a function's page: invocations, errors, duration p50/p99 and cold starts."""
    rows = buckets(records, end, count, step)
    times = [b.start for b in rows]
    return [
        svg("Invocations", times, {"invocations": [b.invocations for b in rows]}),
        svg("Errors", times, {"errors": [b.errors for b in rows]}),
        svg("Duration (ms)", times, {"p50": [b.p50_ms for b in rows], "p99": [b.p99_ms for b in rows]}, " ms"),
        svg("Cold starts", times, {"cold starts": [b.cold_starts for b in rows]}),
    ]
