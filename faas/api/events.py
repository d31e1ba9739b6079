"""EventBridge's API (JSON protocol 1.1, `X-Amz-Target: AWSEvents.<Operation>`, routed by faas.api.awsjson):
thin handlers over faas.services.event_bus. Each operation is authorised as events:<Operation> on the bus or
rule it acts on (List* and TestEventPattern on "*"), and changes are audited."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faas.api.auth import CALLER, GUARD, operation
from faas.api.awsjson import JsonService
from faas.api.context import services
from faas.api.router import params_of
from faas.errors import EventsValidation, InvalidParameterValue
from faas.services.event_bus import EventBusService, FailedEntry
from faas.store.event_bus import Bus, Rule

# PutEvents takes 1 MB of entries, which JSON's escapes may triple: room for that and the rest, no more.
EVENTS_BODY_LIMIT = 4 * 1024 * 1024


def _bus_service(request: web.Request) -> EventBusService:
    return services(request).events


def _params(request: web.Request) -> dict[str, Any]:
    try:
        return params_of(request)
    except Exception:  # noqa: BLE001 (the handler refuses the bad body itself, in its own words)
        return {}


def _bus_arn(key: str):  # type: ignore[no-untyped-def]
    def resource(request: web.Request) -> str:
        bus = _bus_service(request)
        try:
            return bus.bus_arn(bus.bus_name(_params(request).get(key)))
        except Exception:  # noqa: BLE001
            return "*"
    return resource


def _rule_arn(key: str):  # type: ignore[no-untyped-def]
    def resource(request: web.Request) -> str:
        bus, params = _bus_service(request), _params(request)
        name = params.get(key)
        try:
            return bus.rule_arn(bus.bus_name(params.get("EventBusName")), name) if isinstance(name, str) else "*"
        except Exception:  # noqa: BLE001
            return "*"
    return resource


def _entries_bus_arn(request: web.Request) -> str:
    """PutEvents acts on the bus its entries name when they all name one (the default when none), else "*"."""
    bus = _bus_service(request)
    entries = _params(request).get("Entries")
    try:
        names = {bus.bus_name(entry.get("EventBusName")) for entry in entries}
    except Exception:  # noqa: BLE001 (the handler refuses the bad entries itself)
        return "*"
    return bus.bus_arn(names.pop()) if len(names) == 1 else "*"


def _everything(request: web.Request) -> str:
    return "*"


def events_operation(action: str, resource, *, audited: bool = True):  # type: ignore[no-untyped-def]
    return operation(f"events:{action}", body_limit=EVENTS_BODY_LIMIT, audited=audited, resource=resource)


def _bus_wire(service: EventBusService, bus: Bus) -> dict[str, Any]:
    answer: dict[str, Any] = {"Name": bus.name, "Arn": service.bus_arn(bus.name),
                              "CreationTime": bus.created_at.timestamp(),
                              "LastModifiedTime": bus.modified_at.timestamp()}
    if bus.description:
        answer["Description"] = bus.description
    return answer


def _rule_wire(service: EventBusService, rule: Rule) -> dict[str, Any]:
    answer: dict[str, Any] = {"Name": rule.name, "Arn": service.rule_arn(rule.bus, rule.name), "State": rule.state,
                              "EventBusName": rule.bus}
    for key, value in (("EventPattern", rule.event_pattern), ("ScheduleExpression", rule.schedule_expression),
                       ("Description", rule.description), ("RoleArn", rule.role_arn)):
        if value:
            answer[key] = value
    return answer


async def _pass_roles(request: web.Request, roles: list[object]) -> None:
    """Naming a role a rule's deliveries are made as is passing it, as on AWS: the caller must be allowed
    iam:PassRole on the existing role each RoleArn names, else nothing of the request is stored."""
    for role in dict.fromkeys(role for role in roles if role is not None):
        try:
            resolved = await services(request).identities.resolve_role_arn(role)
        except InvalidParameterValue:
            raise EventsValidation(f"RoleArn {str(role)[:256]} does not name an existing role of this account "
                                   "(arn:aws:iam::<account>:role/<name>).") from None
        await request.app[GUARD].authorize(request[CALLER], "iam:PassRole", resolved, None)


def _failures(failed: list[FailedEntry]) -> dict[str, Any]:
    return {"FailedEntryCount": len(failed),
            "FailedEntries": [{"TargetId": entry.id, "ErrorCode": entry.code, "ErrorMessage": entry.message}
                              for entry in failed]}


@events_operation("CreateEventBus", _bus_arn("Name"))
async def create_event_bus(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    bus = await _bus_service(request).create_bus(params)
    answer = {"EventBusArn": _bus_service(request).bus_arn(bus.name)}
    if bus.description:
        answer["Description"] = bus.description
    return answer


@events_operation("DescribeEventBus", _bus_arn("Name"), audited=False)
async def describe_event_bus(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    return _bus_wire(_bus_service(request), await _bus_service(request).bus(params.get("Name")))


@events_operation("DeleteEventBus", _bus_arn("Name"))
async def delete_event_bus(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _bus_service(request).delete_bus(params.get("Name"))
    return {}


@events_operation("ListEventBuses", _everything, audited=False)
async def list_event_buses(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    buses, token = await _bus_service(request).list_buses(params)
    answer: dict[str, Any] = {"EventBuses": [_bus_wire(_bus_service(request), bus) for bus in buses]}
    if token:
        answer["NextToken"] = token
    return answer


@events_operation("PutRule", _rule_arn("Name"))
async def put_rule(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _pass_roles(request, [params.get("RoleArn")])
    rule = await _bus_service(request).put_rule(params)
    return {"RuleArn": _bus_service(request).rule_arn(rule.bus, rule.name)}


@events_operation("DescribeRule", _rule_arn("Name"), audited=False)
async def describe_rule(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    rule = await _bus_service(request).rule(params)
    return {**_rule_wire(_bus_service(request), rule), "CreatedBy": _bus_service(request).account_id}


@events_operation("ListRules", _everything, audited=False)
async def list_rules(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    rules, token = await _bus_service(request).list_rules(params)
    answer: dict[str, Any] = {"Rules": [_rule_wire(_bus_service(request), rule) for rule in rules]}
    if token:
        answer["NextToken"] = token
    return answer


@events_operation("DeleteRule", _rule_arn("Name"))
async def delete_rule(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _bus_service(request).delete_rule(params)
    return {}


@events_operation("EnableRule", _rule_arn("Name"))
async def enable_rule(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _bus_service(request).set_state(params, "ENABLED")
    return {}


@events_operation("DisableRule", _rule_arn("Name"))
async def disable_rule(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _bus_service(request).set_state(params, "DISABLED")
    return {}


@events_operation("PutTargets", _rule_arn("Rule"))
async def put_targets(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    targets = params.get("Targets")
    await _pass_roles(request, [t.get("RoleArn") for t in targets if isinstance(t, dict)]
                      if isinstance(targets, list) else [])
    return _failures(await _bus_service(request).put_targets(params))


@events_operation("RemoveTargets", _rule_arn("Rule"))
async def remove_targets(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    return _failures(await _bus_service(request).remove_targets(params))


@events_operation("ListTargetsByRule", _rule_arn("Rule"), audited=False)
async def list_targets_by_rule(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    targets, token = await _bus_service(request).targets(params)
    answer: dict[str, Any] = {"Targets": [target.definition for target in targets]}
    if token:
        answer["NextToken"] = token
    return answer


@events_operation("TestEventPattern", _everything, audited=False)
async def test_event_pattern(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    return {"Result": _bus_service(request).test_pattern(params)}


@events_operation("PutEvents", _entries_bus_arn, audited=False)
async def put_events(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    results = await _bus_service(request).put_events(params.get("Entries"), params.get("EndpointId"))
    entries = []
    for result in results:
        if result.event_id is not None:
            entries.append({"EventId": result.event_id})
        else:
            entries.append({"ErrorCode": result.error_code, "ErrorMessage": result.error_message})
    return {"FailedEntryCount": sum(1 for result in results if result.event_id is None), "Entries": entries}


EVENTS = JsonService(
    signing_name="events",
    target_prefix="AWSEvents",
    error_namespace="com.amazonaws.events",
    operations={
        "CreateEventBus": create_event_bus, "DescribeEventBus": describe_event_bus,
        "DeleteEventBus": delete_event_bus, "ListEventBuses": list_event_buses, "PutRule": put_rule,
        "DescribeRule": describe_rule, "ListRules": list_rules, "DeleteRule": delete_rule,
        "EnableRule": enable_rule, "DisableRule": disable_rule, "PutTargets": put_targets,
        "RemoveTargets": remove_targets, "ListTargetsByRule": list_targets_by_rule,
        "TestEventPattern": test_event_pattern, "PutEvents": put_events,
    },
    # The platform's own refusals, in the codes EventBridge answers them with.
    common_codes={
        "ServiceException": "InternalException",
        "InvalidParameterValueException": "ValidationException",
        "TooManyRequestsException": "ThrottlingException",
    },
    query_compatible=False,
)
