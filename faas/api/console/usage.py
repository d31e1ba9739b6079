"""The usage and billing page: a month's requests, GB-seconds, duration, errors, throttles and cold starts per
function or per owner, priced with the free tier, as GET /faas/v1/usage reports them (UsageService.report)."""

from __future__ import annotations

from aiohttp import web

from faas.api.console.web import ROOT, View, page
from faas.billing import month_of
from faas.model import utcnow


@page
async def usage(view: View) -> web.Response:
    await view.authorize("faas:GetUsage")
    query = view.request.query
    report = await view.ctx.usage.report(query.get("month") or month_of(utcnow()), query.get("by") or "function")
    total, free = report["Total"], report["FreeTier"]
    return view.render("usage.html", report=report, total=total,
                       free_requests_pct=_percent(total["FreeRequests"], free["Requests"]),
                       free_gb_seconds_pct=_percent(total["FreeGBSeconds"], free["GBSeconds"]))


def _percent(used: float, allowance: float) -> float:
    """How much of a free-tier allowance the month has used, 0-100."""
    return 100.0 if allowance <= 0 else min(100.0, 100.0 * used / allowance)


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/usage", usage)
