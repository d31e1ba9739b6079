"""Functions' logs as CloudWatch Logs shows them: the log group `/aws/lambda/<function>`, one stream per
environment (`YYYY/MM/DD/[$LATEST]<id>`, its AWS_LAMBDA_LOG_STREAM_NAME), one event per line of each
invocation record's log, read with filter patterns (faas.filter_patterns) and paging tokens as AWS's clients
use them; retention per group.

Each event carries its invocation's end as its `timestamp` and `ingestionTime` (the record is written when the
invocation ends): the platform keeps one log per invocation, not a time per line. Events are ordered by
(invocation end, request id, line), the order records arrive in, so a follower that goes on from the newest
timestamp it saw (`aws logs tail --follow`) misses no invocation that was still running when it looked. Records made before streams were recorded (migration
0019) are not in any stream and so not shown here; `faas logs --limit` still shows them.

For the console: `await ctx.logs.events(function, since_ms, filter_pattern, limit)` returns the function's
newest `limit` events from `since_ms` on, oldest first, each
`{"timestamp": ms, "message": str, "logStreamName": str, "ingestionTime": ms, "eventId": str}`; a bad
pattern raises faas.errors.LogsInvalidParameter, whose message says what is wrong with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from faas.errors import InvalidFilterPattern, LogsInvalidParameter, LogsResourceNotFound
from faas.filter_patterns import Matcher, compile_pattern
from faas.services import log_events
from faas.services.log_events import Event, Position
from faas.store.logs import LogGroup, LogStore, RecordRange

GROUP_PREFIX = "/aws/lambda/"
# PutRetentionPolicy's retentionInDays, as the Logs model lists them.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
MAX_EVENTS = 10_000  # events per page, as GetLogEvents and FilterLogEvents answer at most
MAX_PAGE_BYTES = 1024 * 1024  # and about 1 MB of messages
MAX_SCANNED_RECORDS = 2_000  # a filtered read that finds little answers what it found and a token to go on
RECORD_BATCH = 200
MAX_GROUPS_PAGE = 50
MAX_LIVE_TAIL_GROUPS = 10
LIVE_TAIL_POLL_S = 1.0  # how often a live tail reads what arrived
LIVE_TAIL_IDLE_UPDATE_S = 5.0  # an empty update this often, so a client that went away is noticed
LIVE_TAIL_MAX_S = 3 * 3600.0  # sessions end after three hours, as AWS's do
LIVE_TAIL_BATCH = 500  # events an update holds at most, as AWS's
@dataclasses.dataclass
class LiveTail:
    """A StartLiveTail session: what its sessionStart says, and where each group's tail has got to."""

    start: dict[str, Any]
    groups: list[tuple[str, str, RecordRange, Position | None]]  # (identifier, function, scope, last seen)
    matches: Matcher | None
    timed_out: bool = False


class LogService:
    def __init__(self, store: LogStore, *, region: str, account_id: str) -> None:
        self._store = store
        self._region = region
        self._account_id = account_id
        self._closing = asyncio.Event()  # set at shutdown: live tails end

    def drain(self) -> None:
        """At shutdown: live tails end now rather than hold the node's stop."""
        self._closing.set()

    # -- names -----------------------------------------------------------------------------------------------

    def group_arn(self, group: str) -> str:
        """The ARN IAM policies name a group by (with AWS's trailing `:*`, which covers its streams)."""
        return f"arn:aws:logs:{self._region}:{self._account_id}:log-group:{group}:*"

    def stream_arn(self, group: str, stream: str) -> str:
        return f"arn:aws:logs:{self._region}:{self._account_id}:log-group:{group}:log-stream:{stream}"

    def group_of(self, params: dict[str, Any]) -> str:
        """The group a request names, by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise LogsInvalidParameter("LogGroupName and LogGroupIdentifier are mutually exclusive: give one")
        if identifier is not None:
            prefix = f"arn:aws:logs:{self._region}:{self._account_id}:log-group:"
            if isinstance(identifier, str) and identifier.startswith("arn:"):
                if not identifier.startswith(prefix):
                    raise LogsResourceNotFound("The specified log group does not exist.")
                identifier = identifier.removeprefix(prefix).removesuffix(":*")
            name = identifier
        if not isinstance(name, str) or not name:
            raise LogsInvalidParameter("1 validation error detected: Value at 'logGroupName' failed to satisfy "
                                       "constraint: Member must not be null")
        return name

    async def _group(self, group: str) -> LogGroup:
        function = group.removeprefix(GROUP_PREFIX)
        found = await self._store.group(function) if group.startswith(GROUP_PREFIX) else None
        if found is None:
            raise LogsResourceNotFound("The specified log group does not exist.")
        return found

    # -- groups and retention -------------------------------------------------------------------------------

    async def describe_groups(self, prefix: str | None, pattern: str | None, limit: Any,
                              token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        if prefix is not None and pattern is not None:
            raise LogsInvalidParameter("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive")
        for what, value in (("logGroupNamePrefix", prefix), ("logGroupNamePattern", pattern)):
            if value is not None and not isinstance(value, str):
                raise LogsInvalidParameter(f"{what} must be a string")
        size = _limit(limit, MAX_GROUPS_PAGE, MAX_GROUPS_PAGE)
        after = log_events.decode(token)[0] if token else ""
        if not isinstance(after, str):
            raise LogsInvalidParameter("The specified nextToken is not valid.")
        groups = [g for g in await self._store.groups()
                  if (name := GROUP_PREFIX + g.function_name) > after
                  and name.startswith(prefix or "") and (pattern or "") in name]
        page = groups[:size]
        answer = [self._describe(group) for group in page]
        more = len(groups) > size
        return answer, (log_events.encode([GROUP_PREFIX + page[-1].function_name]) if more else None)

    def _describe(self, group: LogGroup) -> dict[str, Any]:
        name = GROUP_PREFIX + group.function_name
        described: dict[str, Any] = {
            "logGroupName": name, "creationTime": log_events.ms(group.created_at), "metricFilterCount": 0,
            "arn": self.group_arn(name), "logGroupArn": self.group_arn(name).removesuffix(":*"),
            "storedBytes": 0, "logGroupClass": "STANDARD"}
        if group.retention_in_days is not None:
            described["retentionInDays"] = group.retention_in_days
        return described

    async def put_retention(self, group: str, days: Any) -> None:
        if not isinstance(days, int) or isinstance(days, bool) or days not in RETENTION_DAYS:
            raise LogsInvalidParameter(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed "
                                       f"to satisfy constraint: Member must satisfy enum value set: "
                                       f"[{', '.join(map(str, RETENTION_DAYS))}]")
        await self._set_retention(group, days)

    async def delete_retention(self, group: str) -> None:
        await self._set_retention(group, None)

    async def _set_retention(self, group: str, days: int | None) -> None:
        if not (group.startswith(GROUP_PREFIX) and await self._store.set_retention(group.removeprefix(GROUP_PREFIX),
                                                                                   days)):
            raise LogsResourceNotFound("The specified log group does not exist.")

    async def prune(self, now: dt.datetime, batch: int) -> int:
        """Delete the records each group's retention has run out on, in batches; how many went."""
        deleted = 0
        for group in await self._store.retained():
            assert group.retention_in_days is not None
            cutoff = now - dt.timedelta(days=group.retention_in_days)
            while (count := await self._store.prune_group_before(group.function_name, cutoff, batch)) > 0:
                deleted += count
                if count < batch:
                    break
        return deleted

    # -- streams --------------------------------------------------------------------------------------------

    async def describe_streams(self, group: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        found = await self._group(group)
        order = params.get("orderBy", "LogStreamName")
        if order not in ("LogStreamName", "LastEventTime"):
            raise LogsInvalidParameter("orderBy must be LogStreamName or LastEventTime")
        prefix = params.get("logStreamNamePrefix")
        if prefix is not None and order == "LastEventTime":
            raise LogsInvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        if prefix is not None and not isinstance(prefix, str):
            raise LogsInvalidParameter("logStreamNamePrefix must be a string")
        size = _limit(params.get("limit"), MAX_GROUPS_PAGE, MAX_GROUPS_PAGE)
        offset = log_events.decode(params["nextToken"])[0] if params.get("nextToken") else 0
        if not isinstance(offset, int) or offset < 0:
            raise LogsInvalidParameter("The specified nextToken is not valid.")
        streams = await self._store.streams(found.function_name, prefix)
        streams.sort(key=(lambda s: s.name) if order == "LogStreamName" else (lambda s: (s.last_event, s.name)),
                     reverse=params.get("descending") is True)
        page = streams[offset:offset + size]
        described = [{"logStreamName": s.name, "creationTime": log_events.ms(s.first_event),
                      "firstEventTimestamp": log_events.ms(s.first_event),
                      "lastEventTimestamp": log_events.ms(s.last_event),
                      "lastIngestionTime": log_events.ms(s.last_event), "arn": self.stream_arn(group, s.name),
                      "storedBytes": 0} for s in page]
        more = offset + size < len(streams)
        return described, (log_events.encode([offset + size]) if more else None)

    # -- events ---------------------------------------------------------------------------------------------

    async def get_events(self, group: str, params: dict[str, Any]) -> dict[str, Any]:
        """GetLogEvents: a stream's events forwards from the head or backwards from the end (the default), with
        tokens each way that come back unchanged at the stream's ends, as AWS's clients expect."""
        found = await self._group(group)
        stream = params.get("logStreamName")
        if not isinstance(stream, str) or not stream:
            raise LogsInvalidParameter("1 validation error detected: Value at 'logStreamName' failed to satisfy "
                                       "constraint: Member must not be null")
        size = _limit(params.get("limit"), MAX_EVENTS, MAX_EVENTS)
        token = params.get("nextToken")
        if token is not None:
            if not isinstance(token, str) or token[:2] not in ("f/", "b/"):
                raise LogsInvalidParameter("The specified nextToken is not valid.")
            forward, position = token[0] == "f", log_events.position_of(token[2:])
        else:
            forward, position = params.get("startFromHead") is True, None
        scope = RecordRange(streams=(stream,), start=_time(params.get("startTime"), "startTime"),
                            end=_end(params.get("endTime")))
        if not await self._store.records(found.function_name, dataclasses.replace(scope, start=None, end=None), 1):
            raise LogsResourceNotFound("The specified log stream does not exist.")
        if forward:
            events = [e async for e in self._read(found.function_name, scope, position, size, None)]
        else:
            newest = [e async for e in self._read_backwards(found.function_name, scope, position, size)]
            events = newest[::-1]
        first = events[0].position if events else position
        last = events[-1].position if events else position
        return {"events": [e.wire(with_stream=False) for e in events],
                "nextForwardToken": "f/" + log_events.encode(list(last) if last else None),
                "nextBackwardToken": "b/" + log_events.encode(list(first) if first else None)}

    async def filter_events(self, group: str, params: dict[str, Any]) -> dict[str, Any]:
        """FilterLogEvents: the group's events matching a filter pattern, oldest first, in pages."""
        found = await self._group(group)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise LogsInvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive")
        if names is not None and (not isinstance(names, list) or not 1 <= len(names) <= 100
                                  or not all(isinstance(n, str) for n in names)):
            raise LogsInvalidParameter("logStreamNames must be a list of 1 to 100 stream names")
        if prefix is not None and not isinstance(prefix, str):
            raise LogsInvalidParameter("logStreamNamePrefix must be a string")
        matches = self.matcher(params.get("filterPattern"))
        token = params.get("nextToken")
        position = log_events.position_of(token) if token is not None else None
        scope = RecordRange(streams=tuple(names) if names else None, stream_prefix=prefix,
                            start=_time(params.get("startTime"), "startTime"), end=_end(params.get("endTime")))
        size = _limit(params.get("limit"), MAX_EVENTS, MAX_EVENTS)
        resume: list[Position] = []
        events = [e async for e in self._read(found.function_name, scope, position, size, matches, resume)]
        answer: dict[str, Any] = {"events": [e.wire() for e in events], "searchedLogStreams": []}
        if resume:
            answer["nextToken"] = log_events.encode(list(resume[0]))
        return answer

    async def events(self, function: str, since_ms: int, filter_pattern: str | None,
                     limit: int) -> list[dict[str, Any]]:
        """For the console: the function's newest `limit` events from `since_ms` on, oldest first (see the module
        docstring)."""
        matches = self.matcher(filter_pattern)
        scope = RecordRange(start=log_events.EPOCH + dt.timedelta(milliseconds=since_ms))
        newest = [e async for e in self._read_backwards(function, scope, None, limit, matches)]
        return [e.wire() for e in reversed(newest)]

    # -- live tail ------------------------------------------------------------------------------------------

    async def live_tail(self, params: dict[str, Any], request_id: str) -> LiveTail:
        """Check a StartLiveTail request and begin its session at each group's newest event."""
        identifiers = params.get("logGroupIdentifiers")
        if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= MAX_LIVE_TAIL_GROUPS \
                or not all(isinstance(i, str) and i for i in identifiers):
            raise LogsInvalidParameter(f"logGroupIdentifiers must list 1 to {MAX_LIVE_TAIL_GROUPS} log groups")
        names, prefixes = params.get("logStreamNames"), params.get("logStreamNamePrefixes")
        if names is not None and prefixes is not None:
            raise LogsInvalidParameter("logStreamNames and logStreamNamePrefixes are mutually exclusive")
        for what, value in (("logStreamNames", names), ("logStreamNamePrefixes", prefixes)):
            if value is None:
                continue
            if not isinstance(value, list) or not 1 <= len(value) <= 100 or not all(isinstance(v, str) for v in value):
                raise LogsInvalidParameter(f"{what} must list 1 to 100 strings")
            if len(identifiers) != 1:
                raise LogsInvalidParameter(f"{what} may be given only with exactly one log group")
        matches = self.matcher(params.get("logEventFilterPattern"))
        groups = []
        for identifier in identifiers:
            found = await self._group(self.group_of({"logGroupIdentifier": identifier}))
            for scope in _tail_scopes(names, prefixes):
                newest = [e async for e in self._read_backwards(found.function_name, scope, None, 1)]
                groups.append((identifier, found.function_name, scope, newest[0].position if newest else None))
        start: dict[str, Any] = {"requestId": request_id, "sessionId": request_id, "logGroupIdentifiers": identifiers,
                                 "logEventFilterPattern": params.get("logEventFilterPattern") or ""}
        if names is not None:
            start["logStreamNames"] = names
        if prefixes is not None:
            start["logStreamNamePrefixes"] = prefixes
        return LiveTail(start, groups, matches)

    async def live_updates(self, tail: LiveTail) -> AsyncIterator[list[dict[str, Any]]]:
        """The session's updates: the events that arrived since the last, every LIVE_TAIL_POLL_S when there are
        some (an empty one every LIVE_TAIL_IDLE_UPDATE_S), until the node stops or three hours are up."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + LIVE_TAIL_MAX_S
        quiet_since = loop.time()
        while not self._closing.is_set():
            if loop.time() >= ends:
                tail.timed_out = True
                return
            results: list[dict[str, Any]] = []
            for index, (identifier, function, scope, position) in enumerate(tail.groups):
                events = [e async for e in self._read(function, scope, position, LIVE_TAIL_BATCH - len(results),
                                                      tail.matches)]
                if events:
                    tail.groups[index] = (identifier, function, scope, events[-1].position)
                results += [{"logStreamName": e.stream, "logGroupIdentifier": identifier, "message": e.message,
                             "timestamp": e.position[0] // 1000, "ingestionTime": e.ingested_ms} for e in events]
                if len(results) >= LIVE_TAIL_BATCH:
                    break
            if results or loop.time() - quiet_since >= LIVE_TAIL_IDLE_UPDATE_S:
                quiet_since = loop.time()
                yield results
            try:
                await asyncio.wait_for(self._closing.wait(), LIVE_TAIL_POLL_S)
            except asyncio.TimeoutError:
                pass

    @staticmethod
    def matcher(pattern: Any) -> Matcher | None:
        if pattern is None or pattern == "":
            return None
        if not isinstance(pattern, str):
            raise LogsInvalidParameter("filterPattern must be a string")
        try:
            return compile_pattern(pattern)
        except InvalidFilterPattern as exc:
            raise LogsInvalidParameter(f"Invalid filter pattern: {exc}") from exc

    async def _read(self, function: str, scope: RecordRange, position: Position | None, size: int,
                    matches: Matcher | None, resume: list[Position] | None = None) -> AsyncIterator[Event]:
        """The events after `position`, oldest first: at most `size` (and about a megabyte), scanning at most
        MAX_SCANNED_RECORDS records; where to go on from is appended to `resume` when there may be more."""
        taken = size_bytes = scanned = 0
        while True:
            after = (log_events.datetime_at(position[0]), position[1]) if position else None
            records = await self._store.records(function, dataclasses.replace(scope, after=after), RECORD_BATCH)
            for record in records:
                scanned += 1
                for event in log_events.events_of(record):
                    if (position is not None and event.position <= position) or not _kept(event, matches):
                        continue
                    if taken >= size or size_bytes >= MAX_PAGE_BYTES:
                        if resume is not None:
                            resume.append(log_events.before(event.position))
                        return
                    yield event
                    taken += 1
                    size_bytes += len(event.message)
                if scanned >= MAX_SCANNED_RECORDS:
                    if resume is not None:
                        resume.append(log_events.after_all(record))
                    return
            if len(records) < RECORD_BATCH:
                return
            position = log_events.after_all(records[-1])

    async def _read_backwards(self, function: str, scope: RecordRange, position: Position | None, size: int,
                              matches: Matcher | None = None) -> AsyncIterator[Event]:
        """The events before `position` (the end when None), newest first: at most `size`, scanning at most
        MAX_SCANNED_RECORDS records."""
        taken = scanned = 0
        while True:
            before = (log_events.datetime_at(position[0]), position[1]) if position else None
            records = await self._store.records(function, dataclasses.replace(scope, before=before, backwards=True),
                                                RECORD_BATCH)
            for record in records:
                scanned += 1
                for event in reversed(list(log_events.events_of(record))):
                    if (position is not None and event.position >= position) or not _kept(event, matches):
                        continue
                    yield event
                    taken += 1
                    if taken >= size:
                        return
            if len(records) < RECORD_BATCH or scanned >= MAX_SCANNED_RECORDS:
                return
            last = records[-1]
            position = (log_events.us(last.ended_at), last.request_id, -1)  # before all of its lines


def _tail_scopes(names: list[str] | None, prefixes: list[str] | None) -> list[RecordRange]:
    """What a live tail reads of its group: some streams, the streams of each prefix, or all."""
    if names is not None:
        return [RecordRange(streams=tuple(names))]
    if prefixes is not None:
        return [RecordRange(stream_prefix=prefix) for prefix in prefixes]
    return [RecordRange()]


def _kept(event: Event, matches: Matcher | None) -> bool:
    return matches is None or matches(event.message.rstrip("\n"))


def _time(value: Any, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LogsInvalidParameter(f"{what} must be a number of milliseconds since 1970-01-01 00:00:00 UTC")
    try:
        return log_events.EPOCH + dt.timedelta(milliseconds=value)
    except OverflowError as exc:
        raise LogsInvalidParameter(f"{what} is out of range") from exc


def _end(value: Any) -> dt.datetime | None:
    """endTime is inclusive: events of its millisecond are in."""
    end = _time(value, "endTime")
    return end + dt.timedelta(milliseconds=1) if end is not None else None


def _limit(value: Any, default: int, maximum: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise LogsInvalidParameter(f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
                                   f"constraint: Member must have value between 1 and {maximum}")
    return value


