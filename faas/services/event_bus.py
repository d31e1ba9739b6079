"""EventBridge's buses, rules and targets: checked in EventBridge's words, stored, listed in pages.

A bus's ARN is arn:aws:events:<region>:<account>:event-bus/<name>; a rule's is rule/<name> on the default
bus and rule/<bus>/<name> on any other. The default bus always exists (the migration creates it) and may
not be deleted; a bus with rules may not be deleted either, nor a rule with targets (as EventBridge: remove
the targets first, or pass Force).
"""

from __future__ import annotations

import base64
import logging
import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from faas.errors import ApiError, EventsInvalidEventPattern, InvalidScheduleExpression, EventsLimitExceeded, EventsResourceAlreadyExists, \
    EventsResourceNotFound, EventsValidation, InvalidEventPattern
from faas.event_patterns import Pattern, compile_pattern
from faas.model import utcnow
from faas.services.destinations import Destinations, parse_target
from faas.services.event_inputs import check_target_input, target_input
from faas.services.schedule_expressions import Expression, parse_expression
from faas.store.event_bus import Bus, EventBusStore, Outcome, Rule, RuleTarget
from faas.store.work import WorkStore

log = logging.getLogger(__name__)

# How the platform's parts publish their own events, handed in by faas/app.py: (detail-type, detail, resources).
Publish = Callable[[str, dict[str, Any], list[str]], Awaitable[None]]

DEFAULT_BUS = "default"
PLATFORM_SOURCE = "faas"  # the source of the platform's own events on the default bus (publish)
DELIVERY = "events"  # the kind of leased work a delivery to a rule's target is (faas.sources.event_deliveries)
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 1024 * 1024  # PutEvents' entries, counted as EventBridge counts them (_entry_size)
MAX_TARGETS_PER_RULE = 5  # EventBridge's quota
MAX_TARGETS_PER_CALL = 10
MAX_PAGE = 100
STATES = ("ENABLED", "DISABLED")
_BUS_NAME = re.compile(r"[/.\-_A-Za-z0-9]{1,256}")
_RULE_NAME = re.compile(r"[.\-_A-Za-z0-9]{1,64}")
_TARGET_ID = _RULE_NAME
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus/(.+)")
TARGET_KINDS = ("lambda", "sqs", "sns")
# What TestEventPattern requires of its event (the fields every EventBridge event has).
EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")


def _token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode()


def _after(token: object) -> str:
    if token is None:
        return ""
    try:
        return base64.urlsafe_b64decode(str(token).encode()).decode()
    except ValueError as exc:
        raise EventsValidation("The NextToken is not valid.") from exc


def _limit(limit: object) -> int:
    if limit is None:
        return MAX_PAGE
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise EventsValidation(f"Limit must be a whole number from 1 to {MAX_PAGE}.")
    return limit


def _name(value: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise EventsValidation(f"1 validation error detected: Value {str(value)[:256]!r} at '{what}' failed to satisfy "
                               f"constraint: Member must satisfy regular expression pattern: {pattern.pattern}")
    return value


def _text(value: object, what: str, most: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > most:
        raise EventsValidation(f"{what} must be a string of at most {most} characters.")
    return value


@dataclasses.dataclass(frozen=True)
class FailedEntry:
    id: str
    code: str
    message: str


@dataclasses.dataclass(frozen=True)
class PutResult:
    event_id: str | None
    error_code: str | None
    error_message: str | None


class PutRefused(Exception):
    """One PutEvents entry refused: its ErrorCode and ErrorMessage."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What one target is owed for one event: the work item's payload."""

    event_id: str
    rule_arn: str
    rule: str
    target_id: str
    target_arn: str
    role_arn: str  # the target's RoleArn, else the rule's; "" when neither has one
    body: str  # the event, or what the target's Input, InputPath or InputTransformer made of it

    def encode(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Delivery:
        return cls(**json.loads(payload))


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_time(value: object, now: dt.datetime) -> str:
    """An entry's Time (epoch seconds as boto3 sends it, or ISO 8601 text), else now."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return _iso(dt.datetime.fromtimestamp(value, dt.timezone.utc))
        except (OverflowError, OSError, ValueError):
            raise PutRefused("InvalidArgument", "Parameter Time is not valid.") from None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PutRefused("InvalidArgument", "Parameter Time is not valid.") from None
        return _iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc))
    return _iso(now)


def _entry_size(entry: object) -> int:
    """An entry's size as EventBridge counts it: 14 bytes for a Time, and the UTF-8 bytes of Source,
    DetailType, Detail and each of Resources."""
    if not isinstance(entry, dict):
        return 0
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        if isinstance(entry.get(key), str):
            size += len(entry[key].encode())
    resources = entry.get("Resources")
    if isinstance(resources, list):
        size += sum(len(r.encode()) for r in resources if isinstance(r, str))
    return size


class EventBusService:
    def __init__(self, store: EventBusStore, work: WorkStore, destinations: Destinations, *, region: str,
                 account_id: str, wake: Callable[[], None], clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._store = store
        # Schedule rules' due times are on the node's schedule clock (faas/clock.py: the real one, or the test
        # clock of FAAS_CLOCK_FILE); everything else, the work items' due times among it, on the real one.
        self._clock = clock
        self._work = work
        self._wake = wake  # tells the delivery source there is new work
        self._destinations = destinations
        self.region = region
        self.account_id = account_id
        self._patterns: dict[str, Pattern] = {}  # compiled patterns by their text: PutEvents matches them often

    # -- names and ARNs ------------------------------------------------------------------------------

    def bus_arn(self, bus: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account_id}:event-bus/{bus}"

    def rule_arn(self, bus: str, rule: str) -> str:
        path = rule if bus == DEFAULT_BUS else f"{bus}/{rule}"
        return f"arn:aws:events:{self.region}:{self.account_id}:rule/{path}"

    def bus_name(self, value: object) -> str:
        """The bus an EventBusName names (a name or this account's bus ARN); the default bus when omitted."""
        if value is None:
            return DEFAULT_BUS
        if isinstance(value, str):
            found = _BUS_ARN.fullmatch(value)
            if found is not None:
                if (found.group(1), found.group(2)) != (self.region, self.account_id):
                    raise EventsResourceNotFound(f"Event bus {value[:256]} does not exist.")
                value = found.group(3)
        return _name(value, "eventBusName", _BUS_NAME)

    def pattern(self, text: object) -> Pattern:
        """A compiled EventPattern, refused as EventBridge refuses it."""
        if not isinstance(text, str):
            raise EventsInvalidEventPattern("Event pattern is not valid. Reason: it must be a string of JSON text.")
        compiled = self._patterns.get(text)
        if compiled is None:
            try:
                compiled = compile_pattern(text, dialect="events")
            except InvalidEventPattern as error:
                raise EventsInvalidEventPattern(f"Event pattern is not valid. Reason: {error}") from error
            if len(self._patterns) > 10_000:
                self._patterns.clear()
            self._patterns[text] = compiled
        return compiled

    # -- buses ---------------------------------------------------------------------------------------

    async def create_bus(self, params: dict[str, Any]) -> Bus:
        name = _name(params.get("Name"), "name", _BUS_NAME)
        if name == DEFAULT_BUS or "/" in name:
            raise EventsValidation(f"Event bus name {name} is not valid: 'default' is taken, and '/' is reserved "
                                   "for partner event buses.")
        for unsupported in ("EventSourceName", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig", "Tags"):
            if params.get(unsupported):  # refused by name: accepting one would let a user believe it applies
                raise EventsValidation(f"{unsupported} is not supported by this platform's event buses.")
        now = utcnow()
        bus = Bus(name, _text(params.get("Description"), "Description", 512), now, now)
        if not await self._store.add_bus(bus):
            raise EventsResourceAlreadyExists(f"Event bus {name} already exists.")
        return bus

    async def bus(self, value: object) -> Bus:
        name = self.bus_name(value)
        bus = await self._store.bus(name)
        if bus is None:
            raise EventsResourceNotFound(f"Event bus {name} does not exist.")
        return bus

    async def delete_bus(self, value: object) -> None:
        """As EventBridge, deleting a bus that does not exist succeeds."""
        name = _name(value, "name", _BUS_NAME)
        if name == DEFAULT_BUS:
            raise EventsValidation("Cannot delete event bus default.")
        if await self._store.delete_bus(name) is Outcome.IN_USE:
            raise EventsValidation(f"Cannot delete event bus {name}: it still has rules; delete them first.")

    async def list_buses(self, params: dict[str, Any]) -> tuple[list[Bus], str | None]:
        prefix = _text(params.get("NamePrefix"), "NamePrefix", 256)
        limit = _limit(params.get("Limit"))
        buses = await self._store.buses(prefix=prefix, after=_after(params.get("NextToken")), limit=limit + 1)
        return buses[:limit], (_token(buses[limit - 1].name) if len(buses) > limit else None)

    # -- rules ---------------------------------------------------------------------------------------

    async def put_rule(self, params: dict[str, Any]) -> Rule:
        name = _name(params.get("Name"), "name", _RULE_NAME)
        bus = self.bus_name(params.get("EventBusName"))
        text, schedule = params.get("EventPattern"), params.get("ScheduleExpression")
        if text is None and schedule is None:
            raise EventsValidation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if text is not None and schedule is not None:
            raise EventsValidation("A rule has an EventPattern or a ScheduleExpression, not both, on this platform.")
        if text is not None:
            self.pattern(text)
        else:
            if bus != DEFAULT_BUS:
                raise EventsValidation("ScheduleExpression is supported only on the default event bus.")
            self.schedule(schedule)
        state = params.get("State", "ENABLED")
        if state not in STATES:
            raise EventsValidation(f"1 validation error detected: Value {str(state)[:64]!r} at 'state' failed to "
                                   f"satisfy constraint: Member must satisfy enum value set: [{', '.join(STATES)}]")
        role = params.get("RoleArn")
        if role is not None and (not isinstance(role, str) or not 1 <= len(role) <= 1600):
            raise EventsValidation("RoleArn must be a string of 1 to 1600 characters.")
        if params.get("Tags"):
            raise EventsValidation("Tags on rules are not supported.")
        now = utcnow()
        previous = await self._store.rule(bus, name)
        rule = Rule(bus, name, text, schedule, state, _text(params.get("Description"), "Description", 512),
                    role or "", previous.created_at if previous else now, now,
                    self.schedule(schedule).next_after(self._clock()) if schedule is not None else None)
        if await self._store.put_rule(rule) is Outcome.MISSING:
            raise EventsResourceNotFound(f"Event bus {bus} does not exist.")
        return rule

    async def rule(self, params: dict[str, Any], name_key: str = "Name") -> Rule:
        name = _name(params.get(name_key), name_key[0].lower() + name_key[1:], _RULE_NAME)
        bus = self.bus_name(params.get("EventBusName"))
        rule = await self._store.rule(bus, name)
        if rule is None:
            raise EventsResourceNotFound(f"Rule {name} does not exist on EventBus {bus}.")
        return rule

    async def list_rules(self, params: dict[str, Any]) -> tuple[list[Rule], str | None]:
        bus = (await self.bus(params.get("EventBusName"))).name
        prefix = _text(params.get("NamePrefix"), "NamePrefix", 64)
        limit = _limit(params.get("Limit"))
        rules = await self._store.rules(bus, prefix=prefix, after=_after(params.get("NextToken")), limit=limit + 1)
        return rules[:limit], (_token(rules[limit - 1].name) if len(rules) > limit else None)

    async def delete_rule(self, params: dict[str, Any]) -> None:
        """As EventBridge, deleting a rule that does not exist succeeds; one with targets is refused."""
        name = _name(params.get("Name"), "name", _RULE_NAME)
        bus = self.bus_name(params.get("EventBusName"))
        if await self._store.delete_rule(bus, name, force=params.get("Force") is True) is Outcome.IN_USE:
            raise EventsValidation("Rule can't be deleted since it has targets.")

    async def set_state(self, params: dict[str, Any], state: str) -> None:
        rule = await self.rule(params)
        now = utcnow()
        if rule.schedule_expression is not None and state == "ENABLED" and rule.state != state:
            # A schedule counts from its enabling: due times that passed while it was disabled are not owed.
            enabled = dataclasses.replace(rule, state=state, modified_at=now,
                                          next_due=self.schedule(rule.schedule_expression).next_after(self._clock()))
            if await self._store.put_rule(enabled) is Outcome.MISSING:
                raise EventsResourceNotFound(f"Event bus {rule.bus} does not exist.")
        elif not await self._store.set_state(rule.bus, rule.name, state, now):
            raise EventsResourceNotFound(f"Rule {rule.name} does not exist on EventBus {rule.bus}.")

    @staticmethod
    def schedule(text: object) -> Expression:
        """A rule's ScheduleExpression (rate() or cron() in UTC, as EventBridge rules take), in its words."""
        if not isinstance(text, str) or not text.startswith(("rate(", "cron(")):
            raise EventsValidation("Parameter ScheduleExpression is not valid: use rate(value unit) or cron(fields).")
        try:
            return parse_expression(text, "UTC")
        except InvalidScheduleExpression as error:
            raise EventsValidation(f"Parameter ScheduleExpression is not valid: {error}") from error

    async def fire_due(self) -> int:
        """Fire every schedule rule whose due time has come, each due time once (EventBusStore.fire), with
        EventBridge's "Scheduled Event" to each target. A node that was down fires a missed rule once, for the
        latest due time, and moves on to the next after now. Returns how many rules this call fired."""
        now = self._clock()
        fired = 0
        for rule in await self._store.due(now):
            try:
                following = self.schedule(rule.schedule_expression).next_after(now)
            except EventsValidation:
                log.exception("rule %s has a schedule that no longer parses", rule.name)
                continue
            assert rule.next_due is not None  # due() found it by it
            rule_arn = self.rule_arn(rule.bus, rule.name)
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": self.account_id, "time": _iso(rule.next_due),
                     "region": self.region, "resources": [rule_arn], "detail": {}}
            deliveries = []
            for target in await self._store.targets(rule.bus, rule.name):
                body = target_input(target.definition, event, rule_arn=rule_arn, rule_name=rule.name,
                                    ingestion_time=_iso(now))
                delivery = Delivery(event_id=event["id"], rule_arn=rule_arn, rule=rule.name, target_id=target.id,
                                    target_arn=target.arn,
                                    role_arn=target.definition.get("RoleArn") or rule.role_arn or "", body=body)
                deliveries.append((f"{event['id']}/{rule.bus}/{rule.name}/{target.id}", delivery.encode(), utcnow()))
            if await self._store.fire(rule, following, DELIVERY, deliveries):
                fired += 1
                if deliveries:
                    self._wake()
        return fired

    # -- targets -------------------------------------------------------------------------------------

    def _target(self, target: object) -> RuleTarget:
        """A checked target, or EventsValidation saying why not."""
        if not isinstance(target, dict):
            raise EventsValidation("Each target must be an object with Id and Arn.")
        target_id = _name(target.get("Id"), "id", _TARGET_ID)
        arn = target.get("Arn")
        try:
            parsed = parse_target(arn, "target", TARGET_KINDS)
            self._destinations.check_local(parsed, "target")
        except ApiError as error:
            raise EventsValidation(error.message) from error
        role = target.get("RoleArn")
        if role is not None and (not isinstance(role, str) or not 1 <= len(role) <= 1600):
            raise EventsValidation("RoleArn must be a string of 1 to 1600 characters.")
        check_target_input(target)
        unsupported = sorted(key for key in target if key not in ("Id", "Arn", "RoleArn", "Input", "InputPath",
                                                                   "InputTransformer"))
        if unsupported:
            raise EventsValidation(f"Target parameters {', '.join(unsupported)} are not supported.")
        definition = {key: target[key] for key in ("Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer")
                      if target.get(key) is not None}
        return RuleTarget(target_id, arn, definition)  # type: ignore[arg-type]

    async def put_targets(self, params: dict[str, Any]) -> list[FailedEntry]:
        """Store the valid targets; the others are answered as failed entries, as EventBridge does."""
        rule = await self.rule(params, "Rule")
        targets = params.get("Targets")
        if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS_PER_CALL:
            raise EventsValidation(f"Targets must be a list of 1 to {MAX_TARGETS_PER_CALL} targets.")
        good: dict[str, RuleTarget] = {}
        failed: list[FailedEntry] = []
        for target in targets:
            try:
                checked = self._target(target)
            except EventsValidation as error:
                target_id = target.get("Id") if isinstance(target, dict) else None
                failed.append(FailedEntry(str(target_id or ""), "ValidationException", error.message))
                continue
            good[checked.id] = checked
        outcome = await self._store.put_targets(rule.bus, rule.name, list(good.values()), most=MAX_TARGETS_PER_RULE)
        if outcome is Outcome.MISSING:
            raise EventsResourceNotFound(f"Rule {rule.name} does not exist on EventBus {rule.bus}.")
        if outcome is Outcome.OVER_LIMIT:
            raise EventsLimitExceeded(f"The requested resource exceeds the maximum number allowed: a rule has at "
                                      f"most {MAX_TARGETS_PER_RULE} targets.")
        return failed

    async def remove_targets(self, params: dict[str, Any]) -> list[FailedEntry]:
        rule = await self.rule(params, "Rule")
        ids = params.get("Ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise EventsValidation("Ids must be a list of 1 to 100 target ids.")
        ids = [_name(target_id, "ids", _TARGET_ID) for target_id in ids]
        removed = await self._store.remove_targets(rule.bus, rule.name, ids)
        if removed is None:
            raise EventsResourceNotFound(f"Rule {rule.name} does not exist on EventBus {rule.bus}.")
        return [FailedEntry(target_id, "ResourceNotFoundException", f"Target {target_id} does not exist.")
                for target_id in dict.fromkeys(ids) if target_id not in removed]

    async def targets(self, params: dict[str, Any]) -> tuple[list[RuleTarget], str | None]:
        rule = await self.rule(params, "Rule")
        limit = _limit(params.get("Limit"))
        after = _after(params.get("NextToken"))
        targets = [target for target in await self._store.targets(rule.bus, rule.name) if target.id > after]
        return targets[:limit], (_token(targets[limit - 1].id) if len(targets) > limit else None)

    # -- patterns ------------------------------------------------------------------------------------

    def test_pattern(self, params: dict[str, Any]) -> bool:
        """TestEventPattern: the event must be JSON with the fields EventBridge requires of it."""
        pattern = self.pattern(params.get("EventPattern"))
        text = params.get("Event")
        try:
            event = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise EventsValidation("Parameter Event is not valid: it must be a JSON object.")
        missing = [field for field in EVENT_FIELDS if field not in event]
        if missing:
            raise EventsValidation(f"Parameter Event is not valid: it lacks {', '.join(missing)}.")
        return pattern.matches(event)

    # -- events --------------------------------------------------------------------------------------

    async def put_events(self, entries: object, endpoint_id: object = None) -> list[PutResult]:
        """Accept each valid entry as an event and write every delivery its matching rules' targets are owed,
        for the whole request in one transaction, before answering; entries that are not valid are answered
        with EventBridge's per-entry error and nothing of them is kept."""
        if endpoint_id is not None:
            raise EventsValidation("EndpointId (global endpoints) is not supported by this platform.")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
            raise EventsValidation(f"1 validation error detected: Value at 'entries' failed to satisfy constraint: "
                                   f"Member must have length between 1 and {MAX_ENTRIES}, inclusive")
        if sum(_entry_size(entry) for entry in entries) > MAX_REQUEST_BYTES:
            raise EventsValidation(f"Total size of the entries in the request is over the limit "
                                   f"({MAX_REQUEST_BYTES} bytes).")
        now = utcnow()
        results: list[PutResult] = []
        deliveries: list[tuple[str, bytes, dt.datetime, dt.datetime]] = []
        routes: dict[str, list[tuple[Rule, list[RuleTarget]]]] = {}
        for entry in entries:
            try:
                bus, event = await self._event(entry, now)
            except PutRefused as refusal:
                results.append(PutResult(None, refusal.code, refusal.message))
                continue
            if bus not in routes:
                routes[bus] = await self._store.routes(bus)
            deliveries += self._deliveries(bus, event, routes[bus], now)
            results.append(PutResult(event["id"], None, None))
        await self._work.add_many(DELIVERY, deliveries)
        if deliveries:
            self._wake()
        return results

    async def _event(self, entry: object, now: dt.datetime) -> tuple[str, dict[str, Any]]:
        """The bus and EventBridge's event for one entry, or PutRefused in EventBridge's words."""
        if not isinstance(entry, dict):
            raise PutRefused("InvalidArgument", "Each entry must be an object.")
        for key in ("Source", "DetailType", "Detail"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise PutRefused("InvalidArgument",
                                 f"Parameter {key} is not valid. Reason: {key} is a required argument.")
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            raise PutRefused("MalformedDetail", "Detail is malformed.")
        resources = entry.get("Resources", [])
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            raise PutRefused("InvalidArgument", "Parameter Resources is not valid. Reason: it must be a list of ARNs.")
        try:
            bus = self.bus_name(entry.get("EventBusName"))
        except ApiError as error:
            raise PutRefused("InvalidArgument", error.message) from error
        if await self._store.bus(bus) is None:
            # EventBridge accepts events for a bus that does not exist and drops them (aws/aws-cli#9186); here
            # the caller is told, so a misspelt bus name does not lose events silently.
            raise PutRefused("ResourceNotFoundException", f"Event bus {bus} does not exist.")
        at = _event_time(entry.get("Time"), now)
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"],
                 "source": entry["Source"], "account": self.account_id, "time": at, "region": self.region,
                 "resources": resources, "detail": detail}
        return bus, event

    def _deliveries(self, bus: str, event: dict[str, Any], routes: list[tuple[Rule, list[RuleTarget]]],
                    now: dt.datetime) -> list[tuple[str, bytes, dt.datetime, dt.datetime]]:
        """One leased work item for each target of each rule the event matches, its input rendered now."""
        found = []
        ingested = _iso(now)
        for rule, targets in routes:
            if not self.pattern(rule.event_pattern).matches(event):
                continue
            rule_arn = self.rule_arn(bus, rule.name)
            for target in targets:
                body = target_input(target.definition, event, rule_arn=rule_arn, rule_name=rule.name,
                                    ingestion_time=ingested)
                delivery = Delivery(event_id=event["id"], rule_arn=rule_arn, rule=rule.name, target_id=target.id,
                                    target_arn=target.arn,
                                    role_arn=target.definition.get("RoleArn") or rule.role_arn or "", body=body)
                found.append((f"{event['id']}/{bus}/{rule.name}/{target.id}", delivery.encode(), now, now))
        return found

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        """Put one of the platform's own events on the default bus, source "faas", for rules to react to. It
        never raises: a platform event that cannot be written is logged, and what reported it carries on."""
        try:
            now = utcnow()
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": PLATFORM_SOURCE,
                     "account": self.account_id, "time": _iso(now), "region": self.region, "resources": resources,
                     "detail": detail}
            deliveries = self._deliveries(DEFAULT_BUS, event, await self._store.routes(DEFAULT_BUS), now)
            await self._work.add_many(DELIVERY, deliveries)
            if deliveries:
                self._wake()
        except Exception:
            log.exception("publishing the platform event %r failed", detail_type)
