"""faas's native API for usage and billing: a month's usage (faas:GetUsage), and owners' monthly budgets
(faas:ListBudgets, faas:PutBudget, faas:DeleteBudget). All act on "*": they span every function."""

from __future__ import annotations

from aiohttp import web

from faas.api.auth import operation
from faas.api.body import read_json
from faas.api.context import services
from faas.billing import month_of
from faas.errors import InvalidParameterValue
from faas.model import utcnow

NATIVE = "/faas/v1"


@operation("faas:GetUsage", audited=False)
async def usage(request: web.Request) -> web.Response:
    """`?month=YYYY-MM` (default: this month, UTC), `by=function|owner` (default function), and
    `function=NAME` for one function's rows."""
    query = request.query
    report = await services(request).usage.report(query.get("month") or month_of(utcnow()),
                                                  query.get("by", "function"), query.get("function"))
    return web.json_response(report)


@operation("faas:ListBudgets", audited=False)
async def list_budgets(request: web.Request) -> web.Response:
    return web.json_response({"Budgets": await services(request).usage.budgets()})


@operation("faas:PutBudget")
async def put_budget(request: web.Request) -> web.Response:
    """Body: {"Owner": ARN, "GBSeconds": monthly limit, "Cost": monthly limit in USD}, one or both limits."""
    params = await read_json(request, "PutBudget")
    return web.json_response(await services(request).usage.put_budget(params))


@operation("faas:DeleteBudget")
async def delete_budget(request: web.Request) -> web.Response:
    owner = request.query.get("owner")
    if not owner:
        raise InvalidParameterValue("owner is required: ?owner=<principal ARN>")
    await services(request).usage.delete_budget(owner)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get(NATIVE + "/usage", usage)
    app.router.add_get(NATIVE + "/budgets", list_budgets)
    app.router.add_put(NATIVE + "/budgets", put_budget)
    app.router.add_delete(NATIVE + "/budgets", delete_budget)
