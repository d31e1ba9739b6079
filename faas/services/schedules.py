"""EventBridge Scheduler's schedules and schedule groups: their parameters, checked as the model constrains
them, their due times (faas/services/schedule_expressions.py) and the Scheduler's shapes of them.

What fires them is faas/sources/schedules.py; this module also owns the pure plan of a firing (`plan_firing`):
which due times fire, which are skipped for being missed by more than their window, and where the schedule
goes next.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from faas.clock import Clock
from faas.errors import ApiError, InvalidScheduleExpression, ResourceNotFound, SchedulerConflict, ValidationError
from faas.services.destinations import Target, parse_target
from faas.services.schedule_expressions import At, Expression, parse_expression
from faas.store.schedules import DEFAULT_GROUP, AlreadyExists, Firing, Group, Schedule, ScheduleStore

NAME = re.compile(r"[0-9a-zA-Z\-_.]{1,64}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+")
CLIENT_TOKEN = re.compile(r"[a-zA-Z0-9\-_]{1,64}")
DLQ_ARN = re.compile(r"arn:aws(-[a-z]+)?:sqs:[a-z0-9\-]+:\d{12}:[a-zA-Z0-9\-_]+")
MAX_RESULTS = 100
DEFAULT_RETRY_ATTEMPTS = 185  # AWS's defaults for a RetryPolicy left out
DEFAULT_EVENT_AGE_S = 86400
# A due time missed while no node ran (or the nodes were behind) still fires until its flexible window (none when
# OFF) and this grace after it have passed. Past that, it is skipped and counted.
GRACE = dt.timedelta(minutes=5)
MAX_CATCH_UP = 1000  # due times looked at one by one in a firing; past that the rest are skipped at once
SCHEDULE_KIND = "schedule"  # the kind of leased work a firing's delivery is
# Target fields of other AWS services' templated targets, which faas does not deliver to.
OTHER_TARGET_PARAMETERS = ("EcsParameters", "EventBridgeParameters", "EventBridgePutEventsV2Parameters",
                           "EventBridgePutRawEventsParameters", "KinesisParameters", "SageMakerPipelineParameters")

# (target) -> whether the function, queue or topic exists here.
TargetExists = Callable[[Target], Awaitable[bool]]
RoleExists = Callable[[str], Awaitable[bool]]


def _invalid(message: str) -> ValidationError:
    return ValidationError(message)


def _constraint(value: object, field: str, constraint: str) -> ValidationError:
    return ValidationError(f"1 validation error detected: Value '{str(value)[:256]}' at '{field}' failed to "
                           f"satisfy constraint: {constraint}")


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise _constraint(value, field, "Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+ and have "
                                        "length between 1 and 64")
    return value


def _instant(value: object, field: str) -> dt.datetime | None:
    """A timestamp as botocore sends one (epoch seconds), or ISO-8601 text."""
    if value is None:
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.timezone.utc)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    raise _invalid(f"Invalid {field}: {str(value)[:64]}. It must be a timestamp.")


def _whole(value: object, field: str, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _constraint(value, field, "Member must be an integer")
    if not least <= value <= most:
        raise _constraint(value, field, f"Member must have value between {least} and {most}")
    return value


def _epoch(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def flexible_offset(schedule: Schedule, due: dt.datetime) -> dt.timedelta:
    """Where in its flexible window a due time fires: spread over the window, the same on every node."""
    if not schedule.flexible_window_min:
        return dt.timedelta(0)
    digest = hashlib.sha256(f"{schedule.group_name}/{schedule.name}/{due.isoformat()}".encode()).digest()
    return dt.timedelta(seconds=int.from_bytes(digest[:8], "big") % (schedule.flexible_window_min * 60))


def window(schedule: Schedule) -> dt.timedelta:
    """How late after its due time a due time may still fire."""
    return dt.timedelta(minutes=schedule.flexible_window_min or 0) + GRACE


def expression_of(schedule: Schedule) -> Expression:
    return parse_expression(schedule.expression, schedule.timezone)


def next_due(expression: Expression, after: dt.datetime, end: dt.datetime | None) -> dt.datetime | None:
    due = expression.next_after(after)
    return None if due is None or (end is not None and due > end) else due


def first_due(expression: Expression, start: dt.datetime | None, end: dt.datetime | None,
              now: dt.datetime) -> dt.datetime | None:
    """The first due time from `now` (or from the start date, if later). A rate fires at once, as AWS's does
    without a StartDate, then every period; cron matches whole minutes after it; at() is its one time."""
    begin = max(now, start) if start is not None else now
    if expression.kind == "rate":
        due: dt.datetime | None = begin.replace(microsecond=0)
        return None if end is not None and due > end else due  # type: ignore[operator]
    return next_due(expression, begin - dt.timedelta(microseconds=1), end)


def plan_firing(schedule: Schedule, now: dt.datetime, delivery: Callable[[dt.datetime], tuple[str, bytes]]) -> Firing:
    """What firing the schedule at `now` writes: every due time up to now within its window fires (a
    delivery each), the older ones are skipped and counted, and the schedule moves on to its next due time."""
    expression = expression_of(schedule)
    due, deliveries, skipped, last_skipped = schedule.next_due, [], 0, None
    looked = 0
    while due is not None and due + flexible_offset(schedule, due) <= now:
        if now - due > window(schedule):
            skipped, last_skipped = skipped + 1, due
        else:
            deliveries.append(delivery(due))
        due = next_due(expression, due, schedule.end_date)
        looked += 1
        if looked >= MAX_CATCH_UP and due is not None and now - due > window(schedule):
            # Down for long on a frequent schedule: skip the rest at once (counted as one more).
            skipped, last_skipped = skipped + 1, due
            due = next_due(expression, now - window(schedule), schedule.end_date)
    done = due is None
    return Firing(next_due=due, fire_at=due + flexible_offset(schedule, due) if due is not None else None,
                  skipped=skipped, last_skipped_at=last_skipped, deliveries=deliveries,
                  delete_row=done and schedule.delete_after_completion)


class ScheduleService:
    def __init__(self, store: ScheduleStore, clock: Clock, *, region: str, account_id: str,
                 target_exists: TargetExists, role_exists: RoleExists, target_services: tuple[str, ...],
                 changed: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._clock = clock
        self._region = region
        self._account = account_id
        self._target_exists = target_exists
        self._role_exists = role_exists
        self._target_services = target_services  # what a target may be: lambda, sqs, sns
        self.changed = changed  # wakes this node's firing source

    # -- ARNs -------------------------------------------------------------------------------------

    def arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self._region}:{self._account}:schedule/{group}/{name}"

    def group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self._region}:{self._account}:schedule-group/{name}"

    # -- groups -----------------------------------------------------------------------------------

    async def create_group(self, name: object, params: dict[str, Any]) -> Group:
        name = _name(name, "name")
        if params.get("Tags"):
            raise _invalid("Tags are not supported on schedule groups.")
        now = self._clock.now()
        group = Group(name, now, now)
        try:
            await self._store.add_group(group)
        except AlreadyExists as exc:
            raise SchedulerConflict(f"Schedule group {name} already exists.") from exc
        return group

    async def get_group(self, name: str) -> Group:
        group = await self._store.get_group(_name(name, "name"))
        if group is None:
            raise ResourceNotFound(f"Schedule group {name} does not exist.")
        return group

    async def delete_group(self, name: str) -> None:
        name = _name(name, "name")
        if name == DEFAULT_GROUP:
            raise _invalid("The default schedule group cannot be deleted.")
        if not await self._store.delete_group(name):
            raise ResourceNotFound(f"Schedule group {name} does not exist.")
        self.changed()

    async def list_groups(self, prefix: str | None, token: str | None, max_results: str | None
                          ) -> tuple[list[Group], str | None]:
        if prefix is not None:
            _name(prefix, "namePrefix")
        limit = self._limit(max_results)
        groups = await self._store.list_groups(prefix, token, limit + 1)
        return groups[:limit], (groups[limit - 1].name if len(groups) > limit else None)

    def group_shape(self, group: Group) -> dict[str, Any]:
        return {"Arn": self.group_arn(group.name), "Name": group.name, "State": "ACTIVE",
                "CreationDate": _epoch(group.created_at), "LastModificationDate": _epoch(group.last_modified)}

    # -- schedules --------------------------------------------------------------------------------

    async def create(self, name: object, params: dict[str, Any]) -> Schedule:
        name = _name(name, "name")
        group = await self._group_of(params.get("GroupName"))
        token = params.get("ClientToken")
        if token is not None and (not isinstance(token, str) or not CLIENT_TOKEN.fullmatch(token)):
            raise _constraint(token, "clientToken", "Member must satisfy regular expression pattern: "
                                                    "[a-zA-Z0-9-_]+ and have length between 1 and 64")
        now = self._clock.now()
        schedule = dataclasses.replace(await self._checked(group, name, params, now, created_at=now),
                                       client_token=token)
        try:
            await self._store.add(schedule)
        except AlreadyExists as exc:
            existing = await self._store.get(group, name)
            if token is not None and existing is not None and existing.client_token == token:
                return existing  # the same request again (a client's retry): answered as the first time
            raise SchedulerConflict(f"Schedule {name} already exists.") from exc
        self.changed()
        return schedule

    async def update(self, name: object, params: dict[str, Any]) -> Schedule:
        """UpdateSchedule replaces every setting (what is left out goes back to its default), as on AWS."""
        name = _name(name, "name")
        group = await self._group_of(params.get("GroupName"))
        current = await self.get(name, group)
        now = self._clock.now()
        schedule = dataclasses.replace(await self._checked(group, name, params, now, created_at=current.created_at),
                                       skipped=current.skipped, last_skipped_at=current.last_skipped_at,
                                       client_token=current.client_token)
        if not await self._store.replace(schedule):
            raise ResourceNotFound(f"Schedule {name} does not exist.")
        self.changed()
        return schedule

    async def get(self, name: object, group: object = None) -> Schedule:
        name = _name(name, "name")
        group_name = DEFAULT_GROUP if group is None else _name(group, "groupName")
        schedule = await self._store.get(group_name, name)
        if schedule is None:
            raise ResourceNotFound(f"Schedule {name} does not exist.")
        return schedule

    async def delete(self, name: object, group: object = None) -> None:
        schedule = await self.get(name, group)
        if not await self._store.delete(schedule.group_name, schedule.name):
            raise ResourceNotFound(f"Schedule {schedule.name} does not exist.")
        self.changed()

    async def list(self, group: str | None, prefix: str | None, state: str | None, token: str | None,
                   max_results: str | None) -> tuple[list[Schedule], str | None]:
        if group is not None:
            await self.get_group(group)  # AWS answers ResourceNotFoundException for an unknown group
        if prefix is not None:
            _name(prefix, "namePrefix")
        if state not in (None, "ENABLED", "DISABLED"):
            raise _constraint(state, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")
        after = None
        if token is not None:
            group_part, _, name_part = token.partition("/")
            if not name_part:
                raise _invalid("The NextToken is not valid.")
            after = (group_part, name_part)
        limit = self._limit(max_results)
        found = await self._store.list(group=group, prefix=prefix, enabled=None if state is None else state == "ENABLED",
                                       after=after, limit=limit + 1)
        page = found[:limit]
        return page, (f"{page[-1].group_name}/{page[-1].name}" if len(found) > limit else None)

    def shape(self, schedule: Schedule) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "Arn": self.arn(schedule.group_name, schedule.name), "GroupName": schedule.group_name,
            "Name": schedule.name, "ScheduleExpression": schedule.expression,
            "ScheduleExpressionTimezone": schedule.timezone, "Description": schedule.description,
            "State": "ENABLED" if schedule.enabled else "DISABLED", "Target": schedule.target,
            "FlexibleTimeWindow": ({"Mode": "FLEXIBLE", "MaximumWindowInMinutes": schedule.flexible_window_min}
                                   if schedule.flexible_window_min else {"Mode": "OFF"}),
            "ActionAfterCompletion": "DELETE" if schedule.delete_after_completion else "NONE",
            "CreationDate": _epoch(schedule.created_at), "LastModificationDate": _epoch(schedule.last_modified),
        }
        for key, value in (("StartDate", schedule.start_date), ("EndDate", schedule.end_date)):
            if value is not None:
                shape[key] = _epoch(value)
        return shape

    def summary(self, schedule: Schedule) -> dict[str, Any]:
        return {"Arn": self.arn(schedule.group_name, schedule.name), "Name": schedule.name,
                "GroupName": schedule.group_name, "State": "ENABLED" if schedule.enabled else "DISABLED",
                "CreationDate": _epoch(schedule.created_at), "LastModificationDate": _epoch(schedule.last_modified),
                "Target": {"Arn": schedule.target["Arn"]}}

    # -- checks -----------------------------------------------------------------------------------

    async def _group_of(self, value: object) -> str:
        group = DEFAULT_GROUP if value is None else _name(value, "groupName")
        if await self._store.get_group(group) is None:
            raise ResourceNotFound(f"Schedule group {group} does not exist.")
        return group

    @staticmethod
    def _limit(max_results: str | None) -> int:
        if max_results is None:
            return MAX_RESULTS
        try:
            value = int(max_results)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_RESULTS:
            raise _constraint(max_results, "maxResults", "Member must have value between 1 and 100")
        return value

    async def _checked(self, group: str, name: str, params: dict[str, Any], now: dt.datetime, *,
                       created_at: dt.datetime) -> Schedule:
        """The schedule the parameters describe, every one checked before anything is stored."""
        text = params.get("ScheduleExpression")
        if not isinstance(text, str) or not 1 <= len(text) <= 256:
            raise _constraint(text, "scheduleExpression", "Member must have length between 1 and 256")
        zone = params.get("ScheduleExpressionTimezone") or "UTC"
        if not isinstance(zone, str) or len(zone) > 50:
            raise _constraint(zone, "scheduleExpressionTimezone", "Member must have length between 1 and 50")
        try:
            expression = parse_expression(text, zone)
        except InvalidScheduleExpression as error:
            raise _invalid(str(error)) from error
        start, end = _instant(params.get("StartDate"), "StartDate"), _instant(params.get("EndDate"), "EndDate")
        if start is not None and end is not None and end <= start:
            raise _invalid("The EndDate must be after the StartDate.")
        if end is not None and end <= now:
            raise _invalid("The EndDate must be in the future.")
        if isinstance(expression, At) and expression.when <= now:
            raise _invalid(f"The schedule expression {text} is in the past: a one-time schedule must be in the future.")
        description = params.get("Description") or ""
        if not isinstance(description, str) or len(description) > 512:
            raise _constraint(description, "description", "Member must have length less than or equal to 512")
        state = params.get("State", "ENABLED")
        if state not in ("ENABLED", "DISABLED"):
            raise _constraint(state, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")
        after = params.get("ActionAfterCompletion", "NONE")
        if after not in ("NONE", "DELETE"):
            raise _constraint(after, "actionAfterCompletion", "Member must satisfy enum value set: [NONE, DELETE]")
        if params.get("KmsKeyArn"):
            raise _invalid("KmsKeyArn is not supported: schedules are stored in the platform's database as given.")
        window_min = self._flexible(params.get("FlexibleTimeWindow"))
        target = await self._target(params.get("Target"))
        schedule = Schedule(group, name, text, zone, start, end, description, state == "ENABLED", target, window_min,
                            after == "DELETE", None, None, 0, None, created_at, now)
        due = first_due(expression, start, end, now)
        return dataclasses.replace(schedule, next_due=due,
                                   fire_at=due + flexible_offset(schedule, due) if due is not None else None)

    @staticmethod
    def _flexible(value: object) -> int | None:
        if not isinstance(value, dict) or value.get("Mode") not in ("OFF", "FLEXIBLE"):
            raise _constraint(value, "flexibleTimeWindow.mode", "Member must satisfy enum value set: [OFF, FLEXIBLE]")
        minutes = value.get("MaximumWindowInMinutes")
        if value["Mode"] == "OFF":
            if minutes is not None:
                raise _invalid("MaximumWindowInMinutes is only valid with a FLEXIBLE FlexibleTimeWindow.")
            return None
        if minutes is None:
            raise _invalid("A FLEXIBLE FlexibleTimeWindow needs MaximumWindowInMinutes.")
        return _whole(minutes, "flexibleTimeWindow.maximumWindowInMinutes", 1, 1440)

    async def _target(self, value: object) -> dict[str, Any]:
        if not isinstance(value, dict) or "Arn" not in value or "RoleArn" not in value:
            raise _invalid("A Target needs an Arn and a RoleArn.")
        for key in OTHER_TARGET_PARAMETERS:
            if value.get(key):
                raise _invalid(f"Target.{key} is not supported: targets here are functions, queues and topics.")
        if value.get("SqsParameters"):
            raise _invalid("Target.SqsParameters (a FIFO queue's MessageGroupId) is not supported: targets are "
                           "standard queues.")
        try:
            target = parse_target(value["Arn"], "target", self._target_services)
        except ApiError as error:
            raise _invalid(error.message) from error
        if (target.region, target.account) != (self._region, self._account) or not await self._target_exists(target):
            raise _invalid(f"The target {value['Arn'][:256]} does not exist on this platform.")
        role = value["RoleArn"]
        if not isinstance(role, str) or not ROLE_ARN.fullmatch(role):
            raise _constraint(role, "target.roleArn", "Member must satisfy regular expression pattern: "
                                                      "arn:aws[a-z-]*:iam::\\d{12}:role\\/[\\w+=,.@\\/-]+")
        if not await self._role_exists(role):
            raise _invalid(f"The execution role {role} does not exist.")
        checked: dict[str, Any] = {"Arn": target.arn, "RoleArn": role}
        if "Input" in value:
            if not isinstance(value["Input"], str) or not value["Input"]:
                raise _constraint(value["Input"], "target.input", "Member must have length greater than or equal to 1")
            checked["Input"] = value["Input"]
        retry = value.get("RetryPolicy")
        if retry is not None:
            if not isinstance(retry, dict):
                raise _invalid("Target.RetryPolicy must be an object.")
            checked["RetryPolicy"] = {
                "MaximumRetryAttempts": _whole(retry.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS),
                                               "target.retryPolicy.maximumRetryAttempts", 0, 185),
                "MaximumEventAgeInSeconds": _whole(retry.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE_S),
                                                   "target.retryPolicy.maximumEventAgeInSeconds", 60, 86400)}
        else:
            checked["RetryPolicy"] = {"MaximumRetryAttempts": DEFAULT_RETRY_ATTEMPTS,
                                      "MaximumEventAgeInSeconds": DEFAULT_EVENT_AGE_S}
        dead_letter = value.get("DeadLetterConfig")
        if dead_letter:
            arn = dead_letter.get("Arn") if isinstance(dead_letter, dict) else None
            if not isinstance(arn, str) or not DLQ_ARN.fullmatch(arn):
                raise _constraint(arn, "target.deadLetterConfig.arn", "Member must satisfy regular expression "
                                  "pattern: arn:aws(-[a-z]+)?:sqs:[a-z0-9\\-]+:\\d{12}:[a-zA-Z0-9\\-_]+")
            queue = parse_target(arn, "dead-letter queue", ("sqs",))
            if (queue.region, queue.account) != (self._region, self._account) or not await self._target_exists(queue):
                raise _invalid(f"The dead-letter queue {arn} does not exist on this platform.")
            checked["DeadLetterConfig"] = {"Arn": arn}
        return checked


def delivery_payload(service: ScheduleService, schedule: Schedule, due: dt.datetime) -> tuple[str, bytes]:
    """The work item a due time's delivery is: keyed by schedule and due time, with the target as it is now."""
    key = f"{schedule.group_name}/{schedule.name}@{due.isoformat()}"
    body = {"schedule": service.arn(schedule.group_name, schedule.name), "group": schedule.group_name,
            "name": schedule.name, "due": due.isoformat(), "target": schedule.target}
    return key, json.dumps(body).encode()
