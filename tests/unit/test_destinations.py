"""Asynchronous destinations and dead-letter targets need the source function's execution role to allow
sending to them: checked when they are configured (faas.services.event_configs, faas.services.functions) and
at every delivery (faas.sources.async_events), by pure policy evaluation over the role's cached documents
(faas.services.destinations)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from faas.sources.async_events import AsyncEvent, AsyncInvoker, decode_event
from faas.dispatch.invoker import Result
from faas.errors import InvalidParameterValue, QueueDoesNotExist
from faas.model import Function, utcnow
from faas.security import policy
from faas.services.destinations import Destinations, Target, parse_target
from faas.services.event_configs import EventConfigService
from faas.services.identities import IdentityService
from faas.store.async_failures import AsyncFailure
from faas.store.event_configs import EventInvokeConfig
from faas.store.work import WorkItem

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-a-role"


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def allow(resource: str, effect: str = "Allow", action: str = "lambda:InvokeFunction") -> dict:
    return policy.parse_document({"Statement": [{"Effect": effect, "Action": action, "Resource": resource}]})


class FakeIdentityStore:
    """The two reads and writes role_documents depends on, counting reads."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, str]] = {}
        self.reads = 0

    async def policies(self, owner_kind: str, owner: str) -> dict[str, str]:
        assert owner_kind == "role"
        self.reads += 1
        return dict(self.documents.get(owner, {}))

    async def put_policy(self, owner_kind: str, owner: str, name: str, document: str) -> None:
        self.documents.setdefault(owner, {})[name] = document

    async def delete_policy(self, owner_kind: str, owner: str, name: str) -> None:
        self.documents.get(owner, {}).pop(name, None)


class FakePermissions:
    def __init__(self, statements: dict[str, tuple[dict, ...]] | None = None) -> None:
        self._statements = statements or {}

    async def statements(self, name: str) -> tuple[dict, ...]:
        return self._statements.get(name, ())


def checker(role_policies: dict[str, list[dict]] | None = None,
            statements: dict[str, tuple[dict, ...]] | None = None) -> Checker:
    store = FakeIdentityStore()
    for role, documents in (role_policies or {}).items():
        store.documents[role] = {f"p{i}": json.dumps(d) for i, d in enumerate(documents)}
    identities = IdentityService(store, master=None, account_id=ACCOUNT)  # type: ignore[arg-type]
    return Checker(Destinations(identities, FakePermissions(statements),  # type: ignore[arg-type]
                                region="us-east-1", account_id=ACCOUNT))


class Checker:
    """The decision for a function destination, named by function."""

    def __init__(self, destinations: Destinations) -> None:
        self.destinations = destinations

    async def may_invoke(self, role: str, source: str, destination: str) -> bool:
        return await self.destinations.may_send(role, source, parse_target(arn(destination)))


# --- the decision ------------------------------------------------------------------------------------


async def test_the_role_policy_decides() -> None:
    check = checker({"app-a-role": [allow(arn("sink-*"))]})
    assert await check.may_invoke(ROLE, "app-a", "sink-1")
    assert not await check.may_invoke(ROLE, "app-a", "billing-admin")


async def test_an_explicit_deny_wins() -> None:
    check = checker({"app-a-role": [allow("*"), allow(arn("billing-*"), "Deny")]})
    assert await check.may_invoke(ROLE, "app-a", "sink")
    assert not await check.may_invoke(ROLE, "app-a", "billing-admin")


async def test_a_role_allowed_nothing_may_invoke_nothing() -> None:
    check = checker({"app-a-role": []})
    assert not await check.may_invoke(ROLE, "app-a", "sink")


@pytest.mark.parametrize("role", [
    "arn:aws:iam::111111111111:role/app-a-role",  # another account's role, even of the same name
    "not-a-role-arn",
])
async def test_a_role_of_no_account_here_may_invoke_nothing(role: str) -> None:
    check = checker({"app-a-role": [allow("*")]})
    assert not await check.may_invoke(role, "app-a", "sink")


async def test_the_destinations_function_policy_may_allow_the_role() -> None:
    granted = policy.function_statement(sid="from-app-a", action="lambda:InvokeFunction", principal=ROLE,
                                        resource=arn("sink"))
    check = checker({"app-a-role": []}, {"sink": (granted,)})
    assert await check.may_invoke(ROLE, "app-a", "sink")
    assert not await check.may_invoke(ROLE, "app-a", "other")
    other_role = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    assert not await check.may_invoke(other_role, "app-a", "sink")


async def test_the_role_policy_deny_beats_a_function_policy_allow() -> None:
    granted = policy.function_statement(sid="from-app-a", action="lambda:InvokeFunction", principal=ROLE,
                                        resource=arn("sink"))
    check = checker({"app-a-role": [allow(arn("sink"), "Deny")]}, {"sink": (granted,)})
    assert not await check.may_invoke(ROLE, "app-a", "sink")


async def test_role_documents_are_cached_and_forgotten_when_the_role_policies_change() -> None:
    store = FakeIdentityStore()
    identities = IdentityService(store, master=None, account_id=ACCOUNT)  # type: ignore[arg-type]
    check = Checker(Destinations(identities, FakePermissions(), region="us-east-1",  # type: ignore[arg-type]
                                 account_id=ACCOUNT))
    await identities.put_policy("role", "app-a-role", "sink", allow(arn("sink")))
    assert await check.may_invoke(ROLE, "app-a", "sink")
    reads = store.reads
    for _ in range(5):
        assert await check.may_invoke(ROLE, "app-a", "sink")
    assert store.reads == reads  # pure evaluation over the cached documents, no store read per check

    await identities.delete_policy("role", "app-a-role", "sink")
    assert not await check.may_invoke(ROLE, "app-a", "sink")  # at once, not after the cache expires


# --- configuration time --------------------------------------------------------------------------------


class FakeEventStore:
    def __init__(self) -> None:
        self.configs: dict[str, EventInvokeConfig] = {}

    async def config(self, function_name: str) -> EventInvokeConfig | None:
        return self.configs.get(function_name)

    async def put_config(self, config: EventInvokeConfig) -> None:
        self.configs[config.function_name] = config


class FakeWork:
    """The leased work the asynchronous invoker adds and completes."""

    def __init__(self) -> None:
        self.events: list[AsyncEvent] = []  # added, as the invoker will read them back
        self.finished: list[tuple[int, str]] = []

    async def add(self, kind: str, key: str, payload: bytes, *, due_at: dt.datetime,
                  created_at: dt.datetime | None = None) -> bool:
        assert kind == "async"
        self.events.append(decode_event(WorkItem(len(self.events) + 100, kind, key, None, payload, created_at or due_at,
                                                 due_at, 0, None)))
        return True

    async def complete(self, item_id: int, owner: str) -> bool:
        self.finished.append((item_id, owner))
        return True


class AllowedDestinations(Destinations):
    """The real checks and record-keeping around a decision the test makes: the role may send to `allowed`."""

    def __init__(self, allowed: set[str], refuse: str | None = None) -> None:
        super().__init__(None, None, region="us-east-1", account_id=ACCOUNT,  # type: ignore[arg-type]
                         send={"sqs": self._record, "sns": self._record})
        self.allowed = allowed
        self.refuse = refuse  # what a queue answers every send with, if anything
        self.asked: list[tuple[str, str, str]] = []
        self.sent: list[tuple[str, str, dict, str]] = []

    async def may_send(self, role_arn: str, source_function: str, target: Target) -> bool:
        self.asked.append((role_arn, source_function, target.name))
        return target.name in self.allowed

    async def _record(self, target: Target, body: str, attributes: dict, sender: str) -> None:
        if self.refuse:
            raise QueueDoesNotExist(self.refuse)
        self.sent.append((target.arn, body, attributes, sender))


def config_service(allowed: set[str]) -> tuple[EventConfigService, FakeEventStore, list[tuple[str, str, str]]]:
    destinations = AllowedDestinations(allowed)
    store = FakeEventStore()
    service = EventConfigService(store, arn, destinations)  # type: ignore[arg-type]
    service.test_destinations = destinations  # type: ignore[attr-defined]
    return service, store, destinations.asked


async def test_a_destination_the_role_may_invoke_is_stored() -> None:
    service, store, asked = config_service({"sink"})
    config = await service.put("app-a", ROLE, {"DestinationConfig": {"OnSuccess": {"Destination": arn("sink")},
                                                                     "OnFailure": {"Destination": arn("sink") + ":$LATEST"}}},
                               merge=False)
    assert (config.on_success, config.on_failure) == (arn("sink"), arn("sink") + ":$LATEST")
    assert store.configs["app-a"] == config
    assert asked == [(ROLE, "app-a", "sink"), (ROLE, "app-a", "sink")]


@pytest.mark.parametrize("merge", [False, True])
async def test_a_destination_the_role_may_not_invoke_is_refused_and_nothing_changes(merge: bool) -> None:
    service, store, _ = config_service({"sink"})
    before = await service.put("app-a", ROLE, {"MaximumRetryAttempts": 1,
                                               "DestinationConfig": {"OnFailure": {"Destination": arn("sink")}}},
                               merge=False)
    with pytest.raises(InvalidParameterValue) as refused:
        await service.put("app-a", ROLE, {"MaximumRetryAttempts": 0, "DestinationConfig": {
            "OnSuccess": {"Destination": arn("billing-admin")}}}, merge=merge)
    assert "does not have permissions to call InvokeFunction" in refused.value.message
    assert arn("billing-admin") in refused.value.message and ROLE in refused.value.message
    assert store.configs["app-a"] == before


async def test_only_the_destinations_a_request_names_are_checked() -> None:
    service, store, asked = config_service({"sink"})
    await service.put("app-a", ROLE, {"DestinationConfig": {"OnFailure": {"Destination": arn("sink")}}},
                      merge=False)
    asked.clear()
    # The right was revoked since: an update of other fields still works; delivery checks again.
    service.test_destinations.allowed = set()  # type: ignore[attr-defined]
    updated = await service.put("app-a", ROLE, {"MaximumRetryAttempts": 0}, merge=True)
    assert (updated.maximum_retry_attempts, updated.on_failure) == (0, arn("sink"))
    removed = await service.put("app-a", ROLE, {"DestinationConfig": {"OnFailure": {"Destination": ""}}},
                                merge=True)
    assert removed.on_failure is None


@pytest.mark.parametrize("destination", [
    "arn:aws:lambda:eu-west-1:000000000000:function:sink",
    "arn:aws:lambda:us-east-1:111111111111:function:sink",
])
async def test_a_destination_outside_this_region_and_account_is_refused(destination: str) -> None:
    service, store, _ = config_service({"sink"})
    with pytest.raises(InvalidParameterValue, match="outside this platform"):
        await service.put("app-a", ROLE, {"DestinationConfig": {"OnSuccess": {"Destination": destination}}},
                          merge=False)
    assert store.configs == {}


# --- delivery time -------------------------------------------------------------------------------------


class FakeFunctions:
    def __init__(self, fn: Function) -> None:
        self.fn = fn

    async def get(self, name: str) -> Function:
        assert name == self.fn.name
        return self.fn


class FakeInvoker:
    def __init__(self, result: Result) -> None:
        self.result = result
        self.invoked: list[str] = []

    async def invoke(self, fn: Function, payload: bytes, request_id: str | None = None) -> Result:
        self.invoked.append(fn.name)
        return self.result


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[Any] = []

    def add(self, record: Any) -> None:
        self.entries.append(record)


class FakeFailures:
    """Where failed events are kept for `faas events`."""

    def __init__(self) -> None:
        self.kept: list[AsyncFailure] = []

    async def add(self, failure: AsyncFailure) -> bool:
        self.kept.append(failure)
        return True


def function(name: str, dead_letter: str | None = None) -> Function:
    return Function(name=name, runtime="python3.13", handler="app.handler", role=ROLE, description="",
                    memory_size=128, timeout=3, ephemeral_storage=512, environment={}, package_type="Zip",
                    code_sha256="0" * 64, code_size=1, image_uri=None, image_config={}, revision_id="r",
                    last_modified=utcnow(), dead_letter_target=dead_letter)


async def run_once(destinations: AllowedDestinations, result: Result, *, on_success: str | None = None,
                   on_failure: str | None = None, dead_letter: str | None = None, age_s: float = 1,
                   payload: bytes = b"{}", failures: FakeFailures | None = None) -> tuple[FakeWork, FakeAudit]:
    """One last attempt (no retries left) of an event for app-a, delivering wherever it is configured to."""
    store = FakeEventStore()
    store.configs["app-a"] = EventInvokeConfig("app-a", 0, 3600, on_success, on_failure, utcnow())
    configs = EventConfigService(store, arn, destinations)  # type: ignore[arg-type]
    audit = FakeAudit()
    work = FakeWork()
    invoker = AsyncInvoker(work, configs, FakeFunctions(function("app-a", dead_letter)),  # type: ignore[arg-type]
                           FakeInvoker(result), node_id="n", function_arn=arn,  # type: ignore[arg-type]
                           retry_base_s=1, destinations=destinations, audit=audit,  # type: ignore[arg-type]
                           failures=failures or FakeFailures())  # type: ignore[arg-type]
    now = utcnow()
    await invoker._attempt(AsyncEvent("req-1", "app-a", payload, now - dt.timedelta(seconds=age_s), 1, 7))
    assert work.finished == [(7, "n")]  # the source event is over either way
    return work, audit


async def deliver(allowed: bool, function_error: str | None) -> tuple[FakeWork, FakeAudit, list]:
    destinations = AllowedDestinations({"sink", "billing-admin"} if allowed else set())
    work, audit = await run_once(destinations, Result("req-1", b'{"ok": true}', function_error, ""),
                                 on_success=arn("sink"), on_failure=arn("billing-admin"))
    return work, audit, destinations.asked


async def test_an_allowed_delivery_is_queued_for_the_destination() -> None:
    work, audit, asked = await deliver(True, None)
    assert asked == [(ROLE, "app-a", "sink")]
    [record] = work.events
    assert record.function_name == "sink"
    assert json.loads(record.payload)["requestContext"]["condition"] == "Success"
    assert audit.entries == []


@pytest.mark.parametrize("function_error, destination", [(None, "sink"), ("Unhandled", "billing-admin")])
async def test_a_delivery_the_role_may_no_longer_make_is_dropped_and_audited(
        function_error: str | None, destination: str, caplog: pytest.LogCaptureFixture) -> None:
    work, audit, asked = await deliver(False, function_error)
    assert asked == [(ROLE, "app-a", destination)]
    assert work.events == []  # never performed
    [entry] = audit.entries
    assert dataclasses.asdict(entry) | {"at": None} == {
        "at": None, "principal": ROLE, "action": "lambda:InvokeFunction", "resource": arn(destination),
        "status": 403, "outcome": "denied", "request_id": "req-1", "source_ip": ""}
    # The refused delivery's warning (a failed event also gets the warning that it was dropped after its attempts).
    [warning] = [r for r in caplog.records if r.levelname == "WARNING" and "may not send" in r.getMessage()]
    assert "dropped" in warning.getMessage() and destination in warning.getMessage()


# --- queues, topics and dead letters -------------------------------------------------------------------


FAILED = Result("req-1", b'{"errorMessage": "card declined", "errorType": "Declined"}', "Unhandled", "")


async def test_a_record_for_a_queue_destination_is_sent_to_the_queue_as_the_role() -> None:
    destinations = AllowedDestinations({"results"})
    work, audit = await run_once(destinations, Result("req-1", b'{"ok": true}', None, ""),
                                 on_success=queue_arn("results"))
    [(target, body, attributes, sender)] = destinations.sent
    assert (target, attributes, sender) == (queue_arn("results"), {}, "app-a-role:app-a")
    record = json.loads(body)
    assert record["requestContext"]["condition"] == "Success" and record["responsePayload"] == {"ok": True}
    assert work.events == [] and audit.entries == []


async def test_an_event_that_failed_every_attempt_goes_to_the_dead_letter_queue_with_lambdas_attributes() -> None:
    destinations = AllowedDestinations({"dlq", "sink"})
    await run_once(destinations, FAILED, dead_letter=queue_arn("dlq"), on_failure=arn("sink"),
                   payload=b'{"order": 7}')
    [(target, body, attributes, _)] = destinations.sent
    assert (target, body) == (queue_arn("dlq"), '{"order": 7}')  # the event itself, not a record
    assert attributes == {"RequestID": ("String", "req-1"), "ErrorCode": ("Number", "200"),
                          "ErrorMessage": ("String", "card declined")}


async def test_a_too_old_event_goes_to_the_dead_letter_queue_too() -> None:
    destinations = AllowedDestinations({"dlq"})
    await run_once(destinations, FAILED, dead_letter=queue_arn("dlq"), age_s=7200)
    [(_, _, attributes, _)] = destinations.sent
    assert attributes["ErrorMessage"][1].startswith("EventAgeExceeded")


async def test_a_success_sends_no_dead_letter() -> None:
    destinations = AllowedDestinations({"dlq"})
    await run_once(destinations, Result("req-1", b"{}", None, ""), dead_letter=queue_arn("dlq"))
    assert destinations.sent == []


async def test_the_error_message_of_a_dead_letter_is_its_first_kilobyte() -> None:
    destinations = AllowedDestinations({"dlq"})
    message = "é" * 2000  # two bytes each: the cut may not split one
    await run_once(destinations, Result("r", json.dumps({"errorMessage": message}).encode(), "Unhandled", ""),
                   dead_letter=queue_arn("dlq"))
    [(_, _, attributes, _)] = destinations.sent
    assert attributes["ErrorMessage"][1] == "é" * 512


async def test_a_dead_letter_the_role_may_no_longer_send_is_dropped_and_audited() -> None:
    destinations = AllowedDestinations(set())
    _, audit = await run_once(destinations, FAILED, dead_letter=queue_arn("dlq"))
    assert destinations.sent == []
    [entry] = audit.entries
    assert (entry.action, entry.resource, entry.outcome) == ("sqs:SendMessage", queue_arn("dlq"), "denied")


async def test_a_queue_that_refuses_the_message_does_not_break_the_invoker(caplog: pytest.LogCaptureFixture) -> None:
    destinations = AllowedDestinations({"dlq"}, refuse="The specified queue does not exist.")
    await run_once(destinations, FAILED, dead_letter=queue_arn("dlq"))
    assert any("does not exist" in r.getMessage() and "dead letter" in r.getMessage() for r in caplog.records)


async def test_configuring_a_queue_the_role_may_not_send_to_is_refused() -> None:
    service, store, _ = config_service(set())
    with pytest.raises(InvalidParameterValue, match="does not have permissions to call SendMessage"):
        await service.put("app-a", ROLE, {"DestinationConfig": {"OnFailure": {"Destination": queue_arn("q")}}},
                          merge=False)
    assert store.configs == {}


@pytest.mark.parametrize("target, services, refusal", [
    ("arn:aws:sqs:us-east-1:000000000000:jobs.fifo", ("sqs", "sns"), "FIFO queue"),
    ("arn:aws:sns:us-east-1:000000000000:alerts.fifo", ("sqs", "sns"), "FIFO topic"),
    (arn("sink"), ("sqs", "sns"), "cannot be a"),
    ("arn:aws:s3:::bucket", ("lambda", "sqs", "sns"), "is not valid"),
    ("arn:aws:sqs:us-east-1:000000000000:" + "q" * 81, ("sqs",), "is not valid"),
    (17, ("sqs",), "must be a string"),
])
def test_bad_target_arns_are_refused(target: object, services: tuple[str, ...], refusal: str) -> None:
    with pytest.raises(InvalidParameterValue, match=refusal):
        parse_target(target, "dead-letter target", services)


def test_target_arns_name_their_resource() -> None:
    assert parse_target(arn("sink") + ":$LATEST") == Target("lambda", "us-east-1", ACCOUNT, "sink",
                                                            arn("sink") + ":$LATEST")
    assert parse_target(queue_arn("dlq")).name == "dlq"
    assert parse_target("arn:aws:sns:eu-west-1:111111111111:alerts").service == "sns"


async def test_a_queue_of_another_account_is_refused() -> None:
    destinations = AllowedDestinations({"dlq"})
    with pytest.raises(InvalidParameterValue, match="outside this platform"):
        await destinations.check(ROLE, "app-a", parse_target("arn:aws:sqs:us-east-1:111111111111:dlq"))


async def test_the_role_policy_decides_for_queues_too() -> None:
    check = checker({"app-a-role": [allow(queue_arn("dlq-*"), action="sqs:SendMessage")]})
    assert await check.destinations.may_send(ROLE, "app-a", parse_target(queue_arn("dlq-orders")))
    assert not await check.destinations.may_send(ROLE, "app-a", parse_target(queue_arn("payroll")))
    # sqs:SendMessage does not let it invoke a function, nor lambda:InvokeFunction send to a queue
    assert not await check.may_invoke(ROLE, "app-a", "dlq-orders")


# --- what `faas events` lists of a failed event --------------------------------------------------------------


@pytest.mark.parametrize("allowed, sent_to", [
    ({"dlq", "sink"}, (arn("sink"), queue_arn("dlq"))),
    ({"dlq"}, (queue_arn("dlq"),)),  # the role may no longer invoke the destination: it never went there
    (set(), ()),  # dropped
])
async def test_a_failed_event_is_kept_with_where_it_went(allowed: set[str], sent_to: tuple[str, ...]) -> None:
    failures = FakeFailures()
    await run_once(AllowedDestinations(allowed), dataclasses.replace(FAILED, error_type="Declined"),
                   dead_letter=queue_arn("dlq"), on_failure=arn("sink"), payload=b'{"order": 7}', failures=failures)
    [kept] = failures.kept
    assert (kept.request_id, kept.function_name, kept.attempts, kept.reason, kept.error_type, kept.payload_bytes,
            kept.sent_to) == ("req-1", "app-a", 1, "RetriesExhausted", "Declined", 12, sent_to)
    assert kept.enqueued_at < kept.failed_at


async def test_a_too_old_event_is_kept_without_an_attempt_counted_for_the_one_it_did_not_get() -> None:
    failures = FakeFailures()
    await run_once(AllowedDestinations(set()), FAILED, age_s=7200, failures=failures)
    [kept] = failures.kept
    assert (kept.reason, kept.attempts, kept.error_type, kept.sent_to) == ("EventAgeExceeded", 0, None, ())


async def test_a_success_is_not_kept_as_failed() -> None:
    failures = FakeFailures()
    await run_once(AllowedDestinations(set()), Result("req-1", b"{}", None, ""), failures=failures)
    assert failures.kept == []
