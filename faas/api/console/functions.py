"""The console's function pages: the list, creating from an uploaded zip, the function's page (its
configuration, its environment with the values masked, its charts), editing both, and deleting."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from aiohttp import web

from faas.api.console import charts
from faas.api.console.web import ROOT, View, page, redirect
from faas.api.functions import READ_VARIABLES, configuration
from faas.errors import InvalidParameterValue
from faas.model import utcnow
from faas.sandbox import images
from faas.services.functions import parse_function_ref
from faas.services.identities import DEFAULT_ROLE

LIST_PAGE = 50
CHART_MINUTES = 60
CHART_RECORDS = 10_000  # the newest records of the last hour a chart draws: a page never reads more
MASK = "••••••••"
RECORDS = "faas:GetFunctionLogs"  # what reading a function's invocation records (for its charts) needs


def function_name(view: View) -> str:
    return parse_function_ref(view.request.match_info["function"])


def _field(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _number(form: dict[str, Any], name: str, label: str) -> int | None:
    text = _field(form, name)
    if not text:
        return None
    if not text.isdigit():
        raise InvalidParameterValue(f"{label} must be a whole number")
    return int(text)


@page
async def list_functions(view: View) -> web.Response:
    await view.authorize("lambda:ListFunctions")
    functions, more = await view.ctx.functions.list(view.request.query.get("marker") or None, LIST_PAGE,
                                                    unseal=lambda name: False)
    return view.render("functions.html", functions=functions, next_marker=more,
                       may_create=await view.allowed("lambda:CreateFunction", view.function_arn("*")),
                       default_role=view.ctx.identities.role_arn(DEFAULT_ROLE),
                       runtimes=images.RUNTIMES)


@page
async def create_function(view: View) -> web.Response:
    form = view.form
    name = _field(form, "name")
    zip_bytes = form.get("zip")
    if not isinstance(zip_bytes, bytes) or not zip_bytes:
        raise InvalidParameterValue("Choose a .zip file holding the function's code")
    arn = view.function_arn(name or "*")
    await view.authorize("lambda:CreateFunction", arn, name or None)
    role = _field(form, "role") or view.ctx.identities.role_arn(DEFAULT_ROLE)
    # As the API: naming the role the function will run as is passing it.
    await view.authorize("iam:PassRole", await view.ctx.identities.resolve_role_arn(role))
    params: dict[str, Any] = {"FunctionName": name, "Runtime": _field(form, "runtime"), "Role": role,
                              "Handler": _field(form, "handler"),
                              "Code": {"ZipFile": base64.b64encode(zip_bytes).decode()}}
    for key, field, label in (("MemorySize", "memory", "Memory"), ("Timeout", "timeout", "Timeout")):
        value = _number(form, field, label)
        if value is not None:
            params[key] = value
    fn = await view.ctx.functions.create(params, owner=view.caller.arn)
    view.audit("lambda:CreateFunction", arn)
    return redirect(f"{ROOT}/functions/{fn.name}")


@page
async def show_function(view: View) -> web.Response:
    name = function_name(view)
    arn = view.function_arn(name)
    await view.authorize("lambda:GetFunction", arn, name)
    fn = await view.ctx.functions.get(name)
    config = configuration(fn, view.ctx.settings)
    charts_drawn = None
    if await view.allowed(RECORDS, arn):
        now = utcnow()
        records = await view.ctx.invocations.since(name, now - dt.timedelta(minutes=CHART_MINUTES), CHART_RECORDS)
        charts_drawn = charts.function_charts(records, now, CHART_MINUTES)
    return view.render("function.html", fn=fn, config=config, charts=charts_drawn, mask=MASK,
                       variables=sorted(fn.environment) if await view.allowed(READ_VARIABLES, arn) else None,
                       may_update=await view.allowed("lambda:UpdateFunctionConfiguration", arn),
                       may_delete=await view.allowed("lambda:DeleteFunction", arn))


@page
async def update_configuration(view: View) -> web.Response:
    name = function_name(view)
    arn = view.function_arn(name)
    await view.authorize("lambda:UpdateFunctionConfiguration", arn, name)
    form = view.form
    params: dict[str, Any] = {"Description": form.get("description", "")}
    if _field(form, "handler"):
        params["Handler"] = _field(form, "handler")
    for key, field, label in (("MemorySize", "memory", "Memory"), ("Timeout", "timeout", "Timeout")):
        value = _number(form, field, label)
        if value is not None:
            params[key] = value
    await view.ctx.functions.update_configuration(name, params)
    view.ctx.retire(name)
    view.audit("lambda:UpdateFunctionConfiguration", arn)
    return redirect(f"{ROOT}/functions/{name}")


def edited_environment(current: dict[str, str], form: dict[str, Any]) -> dict[str, str]:
    """The variables once the form is applied: an existing value is kept unless a new one is typed (the
    page never shows it), removed when ticked; one new variable may be added."""
    variables = {}
    for index, key in enumerate(sorted(current)):
        if form.get(f"remove_{index}"):
            continue
        typed = form.get(f"value_{index}", "")
        variables[key] = typed if isinstance(typed, str) and typed else current[key]
    new_name = _field(form, "new_name")
    if new_name:
        new_value = form.get("new_value", "")
        variables[new_name] = new_value if isinstance(new_value, str) else ""
    return variables


@page
async def update_environment(view: View) -> web.Response:
    name = function_name(view)
    arn = view.function_arn(name)
    await view.authorize("lambda:UpdateFunctionConfiguration", arn, name)
    fn = await view.ctx.functions.get(name)
    variables = edited_environment(fn.environment, view.form)
    await view.ctx.functions.update_configuration(name, {"Environment": {"Variables": variables}})
    view.ctx.retire(name)
    view.audit("lambda:UpdateFunctionConfiguration", arn)
    return redirect(f"{ROOT}/functions/{name}")


@page
async def delete_function(view: View) -> web.Response:
    name = function_name(view)
    arn = view.function_arn(name)
    await view.authorize("lambda:DeleteFunction", arn, name)
    await view.ctx.functions.delete(name)
    view.ctx.retire(name)
    view.audit("lambda:DeleteFunction", arn)
    return redirect(f"{ROOT}/functions")


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/functions", list_functions)
    app.router.add_post(ROOT + "/functions", create_function)
    app.router.add_get(ROOT + "/functions/{function}", show_function)
    app.router.add_post(ROOT + "/functions/{function}/configuration", update_configuration)
    app.router.add_post(ROOT + "/functions/{function}/environment", update_environment)
    app.router.add_post(ROOT + "/functions/{function}/delete", delete_function)
