"""Deployment rules of faas.services.functions: function references, env vars, and create/update validation."""

from __future__ import annotations

import asyncio
import base64
import copy
import threading
import time
import io
import zipfile

import pytest

from faas.dispatch.concurrency import Limiter
from faas.security.masterkey import MasterKey
from faas.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from faas.model import Function
from faas.services.code import inspect_zip
from faas.services import functions as functions_module
from faas.services.functions import MAX_ENV_BYTES, RESERVED_ENV_KEYS, ZIP_CHECKS_AT_ONCE, FunctionService, \
    parse_function_ref, validate_environment

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
RUNTIMES = ("python3.13", "nodejs20.x")
SECRET = "hunter2-s3cr3t-VALUE"

MASTER = MasterKey.from_setting(base64.b64encode(bytes(range(32))).decode())


def ARN(name: str) -> str:  # noqa: N802 - stands in for Settings.function_arn
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


def zip_of(source: bytes = b"def handler(event, context):\n    return event\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        # A fixed timestamp: writestr() with a name stamps the current time, and two zips of one source
        # made on either side of a 2-second tick would differ.
        archive.writestr(zipfile.ZipInfo("app.py", date_time=(2020, 1, 1, 0, 0, 0)), source)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class FakeFunctionStore:
    """FunctionStore in memory, with the same contract (revision check, blobs per hash)."""

    def __init__(self) -> None:
        self.functions: dict[str, Function] = {}
        self.blobs: dict[str, bytes] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.writes = 0

    async def get(self, name: str) -> Function | None:
        return self.functions.get(name)

    async def list(self, after: str | None, limit: int) -> list[Function]:
        names = sorted(n for n in self.functions if after is None or n > after)
        return [self.functions[n] for n in names[:limit]]

    async def create(self, fn: Function, code: bytes | None, tags: dict[str, str] | None = None) -> None:
        if fn.name in self.functions:
            raise ResourceConflict(f"Function already exist: {fn.name}")
        self.writes += 1
        if code is not None:
            self.blobs.setdefault(fn.code_sha256, code)
        self.functions[fn.name] = fn
        self.tags[fn.name] = dict(tags or {})

    async def replace(self, fn: Function, code: bytes | None, expected_revision: str) -> None:
        current = self.functions.get(fn.name)
        if current is None:
            raise ResourceNotFound(f"Function not found: {fn.name}")
        if current.revision_id != expected_revision:
            raise ResourceConflict("An update is in progress")
        self.writes += 1
        if code is not None:
            self.blobs.setdefault(fn.code_sha256, code)
        self.functions[fn.name] = fn
        self._drop_unused()

    async def delete(self, name: str) -> None:
        if self.functions.pop(name, None) is None:
            raise ResourceNotFound(f"Function not found: {name}")
        self.writes += 1
        self._drop_unused()

    async def code(self, sha256: str) -> bytes:
        return self.blobs[sha256]

    def _drop_unused(self) -> None:
        used = {fn.code_sha256 for fn in self.functions.values()}
        self.blobs = {h: b for h, b in self.blobs.items() if h in used}


# -- parse_function_ref ---------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [
    "my-function",
    "my_function-2",
    "123456789012:function:my-function",
    "arn:aws:lambda:us-east-1:123456789012:function:my-function",
    "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my-function",
    "my-function:$LATEST",
    "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
    "a" * 64,
])
def test_parse_function_ref(ref):
    expected = "a" * 64 if ref == "a" * 64 else ref.split(":function:")[-1].split(":")[0]
    assert parse_function_ref(ref) == expected


def test_latest_qualifier_argument_is_accepted():
    assert parse_function_ref("fn", "$LATEST") == "fn"
    assert parse_function_ref("fn:$LATEST", "$LATEST") == "fn"


@pytest.mark.parametrize(("ref", "qualifier"), [
    ("fn:1", None), ("fn:prod", None), ("fn", "2"), ("fn", "live"), ("fn:$LATEST", "1"),
    ("arn:aws:lambda:us-east-1:123456789012:function:fn:7", None),
])
def test_other_qualifiers_do_not_exist(ref, qualifier):
    with pytest.raises(ResourceNotFound) as caught:
        parse_function_ref(ref, qualifier)
    assert "fn" in caught.value.message


@pytest.mark.parametrize("ref", [
    "", "my function", "fn/../x", "fn;drop", "a" * 65, "arn:aws:lambda:us-east-1:1234:function:fn",
    "arn:aws:s3:::bucket", "fn:", "fn:$latest-ish!", "ÄÖÜ",
])
def test_garbage_refs_are_invalid(ref):
    with pytest.raises(InvalidParameterValue, match="functionName"):
        parse_function_ref(ref)


def test_a_trailing_newline_is_not_a_name():
    with pytest.raises(InvalidParameterValue):
        parse_function_ref("fn\n")


# -- validate_environment -------------------------------------------------------------------------


def test_no_environment_is_empty():
    assert validate_environment(None) == {}
    assert validate_environment({}) == {}
    assert validate_environment({"Variables": {}}) == {}


def test_valid_variables_are_returned():
    variables = {"A": "1", "DB_URL": "postgres://x", "lower_case9": ""}
    assert validate_environment({"Variables": variables}) == variables


def test_size_limit_is_exactly_4096_bytes():
    assert MAX_ENV_BYTES == 4096
    # Names and values both count, in UTF-8 bytes.
    at_limit = {"A": "x" * 4095}
    assert validate_environment({"Variables": at_limit}) == at_limit
    with pytest.raises(InvalidParameterValue, match="4KB"):
        validate_environment({"Variables": {"A": "x" * 4096}})
    spread = {f"K{i:03d}": "v" * 36 for i in range(102)}  # 102 * 40 = 4080
    spread["LAST"] = "y" * 12  # 4096
    validate_environment({"Variables": spread})
    spread["LAST"] = "y" * 13
    with pytest.raises(InvalidParameterValue):
        validate_environment({"Variables": spread})


def test_size_counts_utf8_bytes():
    validate_environment({"Variables": {"A": "é" * 2047 + "x"}})  # 1 + 4094 + 1
    with pytest.raises(InvalidParameterValue):
        validate_environment({"Variables": {"A": "é" * 2048}})  # 1 + 4096


@pytest.mark.parametrize("key", sorted(RESERVED_ENV_KEYS))
def test_reserved_keys_are_refused(key):
    with pytest.raises(InvalidParameterValue) as caught:
        validate_environment({"Variables": {"OK": "1", key: SECRET}})
    assert key in caught.value.message
    assert SECRET not in caught.value.message


def test_the_commonly_reserved_keys_are_in_the_set():
    assert {"AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT"} <= RESERVED_ENV_KEYS


@pytest.mark.parametrize("key", ["1ABC", "_LEADING", "WITH-DASH", "WITH SPACE", "", "DOLLAR$", "ÄPFEL", 12])
def test_bad_names_are_refused(key):
    with pytest.raises(InvalidParameterValue, match="name"):
        validate_environment({"Variables": {key: SECRET}})


def test_a_name_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidParameterValue):
        validate_environment({"Variables": {"NAME\n": "1"}})


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"], {"nested": "x"}])
def test_values_must_be_strings(value):
    with pytest.raises(InvalidParameterValue, match="string"):
        validate_environment({"Variables": {"KEY": value}})


@pytest.mark.parametrize("environment", [[], "A=1", {"Variables": []}, {"Variables": "A=1"}])
def test_environment_must_be_an_object_with_a_map(environment):
    with pytest.raises(InvalidParameterValue, match="Variables"):
        validate_environment(environment)


@pytest.mark.parametrize("variables", [
    {"GOOD": SECRET, "bad-name": "1"},
    {"GOOD": SECRET, "AWS_REGION": "x"},
    {"GOOD": SECRET, "PAD": "x" * 4096},
    {"GOOD": SECRET, "NUMBER": 5},
    {"AWS_SECRET_ACCESS_KEY": SECRET},
    {"BIG": SECRET * 300},
])
def test_no_error_message_contains_a_value(variables):
    with pytest.raises(InvalidParameterValue) as caught:
        validate_environment({"Variables": variables})
    rendered = " ".join([caught.value.message, str(caught.value), repr(caught.value), str(caught.value.body())])
    assert SECRET not in rendered
    assert "x" * 20 not in rendered


# -- FunctionService ------------------------------------------------------------------------------


@pytest.fixture
def store():
    return FakeFunctionStore()


@pytest.fixture
def service(store):
    return FunctionService(store, RUNTIMES, Limiter(1000), MASTER, ARN)


def create_params(**changes):
    params = {"FunctionName": "fn", "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": b64(zip_of())}}
    params.update(changes)
    return {k: v for k, v in params.items() if v is not ...}


async def test_create_applies_defaults_and_stores_the_code(service, store):
    fn = await service.create(create_params())
    assert (fn.memory_size, fn.timeout, fn.ephemeral_storage) == (128, 3, 512)
    assert fn.package_type == "Zip"
    assert fn.runtime == "python3.13" and fn.handler == "app.handler" and fn.role == ROLE
    assert fn.code_sha256 == inspect_zip(zip_of()).sha256
    assert fn.code_size == len(zip_of())
    assert fn.revision_id
    assert fn.last_modified.tzinfo is not None
    assert store.functions["fn"] == fn
    assert store.blobs == {fn.code_sha256: zip_of()}


async def test_create_keeps_the_given_configuration(service):
    fn = await service.create(create_params(
        MemorySize=1024, Timeout=900, Description="d", EphemeralStorage={"Size": 10240},
        Environment={"Variables": {"A": "1"}},
    ))
    assert (fn.memory_size, fn.timeout, fn.ephemeral_storage, fn.description) == (1024, 900, 10240, "d")
    assert fn.environment == {"A": "1"}


@pytest.mark.parametrize(("key", "good", "bad"), [
    ("MemorySize", [128, 129, 10240], [127, 0, -1, 10241, "256", 256.0, True, None]),
    ("Timeout", [1, 900], [0, 901, "3", 2.5, False]),
    ("EphemeralStorage", [{"Size": 512}, {"Size": 10240}], [{"Size": 511}, {"Size": 10241}, {"Size": "1024"}, {}]),
])
async def test_numeric_bounds(service, key, good, bad):
    for i, value in enumerate(good):
        await service.create(create_params(FunctionName=f"good{i}", **{key: value}))
    for i, value in enumerate(bad):
        if value is None:
            continue  # None means "not given" on the wire
        with pytest.raises(InvalidParameterValue, match=key):
            await service.create(create_params(FunctionName=f"bad{i}", **{key: value}))


@pytest.mark.parametrize("role", [
    "not-a-role", "arn:aws:iam::123:role/x", "arn:aws:iam::123456789012:user/x", "arn:aws:iam::123456789012:role",
    "arn:aws:s3:::bucket", "", 42,
])
async def test_role_pattern(service, store, role):
    with pytest.raises(InvalidParameterValue, match="Role"):
        await service.create(create_params(Role=role))
    assert store.functions == {}


@pytest.mark.parametrize("role", [ROLE, "arn:aws:iam::123456789012:role/service-role/my.role+x=y,z@w"])
async def test_good_roles(service, role):
    assert (await service.create(create_params(Role=role))).role == role


async def test_role_is_required(service):
    with pytest.raises(InvalidParameterValue, match="Role"):
        await service.create(create_params(Role=...))


@pytest.mark.parametrize("handler", ["", "app handler", "app.\thandler", "x" * 129, 7])
async def test_handler_pattern(service, handler):
    with pytest.raises(InvalidParameterValue, match="Handler"):
        await service.create(create_params(Handler=handler))


@pytest.mark.parametrize("handler", ["app.handler", "src/app.main", "x" * 128, "index.handler"])
async def test_good_handlers(service, handler):
    assert (await service.create(create_params(Handler=handler))).handler == handler


async def test_handler_is_required_for_zip(service):
    with pytest.raises(InvalidParameterValue, match="Handler"):
        await service.create(create_params(Handler=...))


@pytest.mark.parametrize("changes", [{"FunctionName": "fn\n"}, {"Handler": "app.handler\n"}, {"Role": ROLE + "\n"}])
async def test_a_trailing_newline_is_refused(service, store, changes):
    with pytest.raises(InvalidParameterValue):
        await service.create(create_params(**changes))


@pytest.mark.parametrize("runtime", ["python2.7", "java8", "", None, 3, ...])
async def test_runtime_must_be_one_of_the_runtimes(service, runtime):
    params = create_params(Runtime=runtime)
    if runtime is None:
        params["Runtime"] = None
    with pytest.raises(InvalidParameterValue, match="python3.13, nodejs20.x"):
        await service.create(params)


@pytest.mark.parametrize("name", ["", "has space", "a" * 65, "arn:aws:lambda:us-east-1:123456789012:function:x", 5])
async def test_function_name_is_validated(service, name):
    with pytest.raises(InvalidParameterValue, match="FunctionName"):
        await service.create(create_params(FunctionName=name))


async def test_bad_environment_stores_nothing(service, store):
    with pytest.raises(InvalidParameterValue):
        await service.create(create_params(Environment={"Variables": {"AWS_REGION": "x"}}))
    assert store.functions == {} and store.blobs == {} and store.writes == 0


async def test_code_is_required_and_checked(service, store):
    with pytest.raises(InvalidParameterValue, match="Code"):
        await service.create(create_params(Code=...))
    with pytest.raises(InvalidParameterValue, match="ZipFile"):
        await service.create(create_params(Code={"S3Bucket": "b", "S3Key": "k"}))
    with pytest.raises(InvalidParameterValue, match="unzip"):
        await service.create(create_params(Code={"ZipFile": b64(b"not a zip")}))
    with pytest.raises(InvalidParameterValue, match="ImageUri"):
        await service.create(create_params(Code={"ZipFile": b64(zip_of()), "ImageUri": "img:1"}))
    assert store.writes == 0


async def test_package_type_must_be_zip_or_image(service):
    with pytest.raises(InvalidParameterValue, match="PackageType"):
        await service.create(create_params(PackageType="Container"))


async def test_image_function_requires_an_image_uri(service, store):
    params = {"FunctionName": "img", "Role": ROLE, "PackageType": "Image"}
    for code in ({}, {"ZipFile": b64(zip_of())}, {"ImageUri": ""}, {"ImageUri": 5}, {"ImageUri": "x" * 513}):
        with pytest.raises(InvalidParameterValue, match="ImageUri"):
            await service.create({**params, "Code": code})
    assert store.writes == 0


async def test_image_function(store):
    checked = []

    async def image_exists(ref: str) -> bool:
        checked.append(ref)
        return ref == "faas/my-image:1"

    service = FunctionService(store, RUNTIMES, Limiter(1000), MASTER, ARN, image_exists=image_exists)
    params = {"FunctionName": "img", "Role": ROLE, "PackageType": "Image",
              "ImageConfig": {"EntryPoint": ["/app/run"], "Command": ["app.handler"], "WorkingDirectory": "/app"}}
    fn = await service.create({**params, "Code": {"ImageUri": "faas/my-image:1"}})
    assert fn.package_type == "Image" and fn.image_uri == "faas/my-image:1"
    assert fn.runtime is None and fn.handler is None and fn.code_sha256 is None
    assert fn.image_config == {"EntryPoint": ["/app/run"], "Command": ["app.handler"], "WorkingDirectory": "/app"}
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        await service.create({**params, "FunctionName": "img2", "Code": {"ImageUri": "faas/missing:1"}})
    assert checked == ["faas/my-image:1", "faas/missing:1"]
    with pytest.raises(InvalidParameterValue, match="Runtime"):
        await service.create({**params, "FunctionName": "img3", "Runtime": "python3.13",
                              "Code": {"ImageUri": "faas/my-image:1"}})
    with pytest.raises(InvalidParameterValue, match="ImageConfig"):
        await service.create({**params, "FunctionName": "img4", "ImageConfig": {"Command": "app.handler"},
                              "Code": {"ImageUri": "faas/my-image:1"}})
    assert sorted(store.functions) == ["img"]


async def test_image_functions_only_use_allowed_repositories(store):
    checked = []

    async def image_exists(ref: str) -> bool:
        checked.append(ref)
        return True  # every image is on the host: the repository rule alone must refuse

    service = FunctionService(store, RUNTIMES, Limiter(1000), MASTER, ARN, image_exists=image_exists,
                              image_repositories=("faas/", "team-a/"))
    params = {"FunctionName": "img", "Role": ROLE, "PackageType": "Image"}
    for uri in ("other-tenant/app:1", "faas:1", "faas-evil/app:1", "registry.example/faas/app:1",
                "localhost:5000/faas/app:1", "sha256:" + "a" * 64, "5d7a90df2661"):
        with pytest.raises(InvalidParameterValue, match="not in a repository this platform allows"):
            await service.create({**params, "Code": {"ImageUri": uri}})
    for uri in ("faas/app:", "FAAS/app:1", "faas/app:1 ", "faas//app", "faas/../app:1"):
        with pytest.raises(InvalidParameterValue, match="not valid"):
            await service.create({**params, "Code": {"ImageUri": uri}})
    assert checked == [] and store.writes == 0
    for n, uri in enumerate(("faas/app:1", "team-a/app", "faas/nested/app@sha256:" + "b" * 64)):
        await service.create({**params, "FunctionName": f"img{n}", "Code": {"ImageUri": uri}})
    assert checked == ["faas/app:1", "team-a/app", "faas/nested/app@sha256:" + "b" * 64]
    with pytest.raises(InvalidParameterValue, match="allows"):  # a code update is held to the same rule
        await service.update_code("img0", {"ImageUri": "other-tenant/app:1"})
    assert (await service.get("img0")).image_uri == "faas/app:1"


async def test_no_allowed_repositories_allow_no_image(store):
    service = FunctionService(store, RUNTIMES, Limiter(1000), MASTER, ARN, image_repositories=())
    with pytest.raises(InvalidParameterValue, match="allowed: none"):
        await service.create({"FunctionName": "img", "Role": ROLE, "PackageType": "Image",
                              "Code": {"ImageUri": "faas/app:1"}})


async def test_update_configuration(service, store):
    created = await service.create(create_params())
    updated = await service.update_configuration("fn", {"MemorySize": 512, "Timeout": 10,
                                                        "RevisionId": created.revision_id})
    assert (updated.memory_size, updated.timeout) == (512, 10)
    assert updated.revision_id != created.revision_id
    assert updated.code_sha256 == created.code_sha256 and updated.handler == created.handler
    assert store.functions["fn"] == updated


async def test_update_configuration_with_the_current_values_keeps_the_revision(service, store):
    created = await service.create(create_params(Environment={"Variables": {"A": "1"}}))
    writes = store.writes
    same = await service.update_configuration("fn", {"MemorySize": created.memory_size, "Handler": created.handler,
                                                     "Environment": {"Variables": {"A": "1"}}})
    assert same.revision_id == created.revision_id and store.writes == writes
    changed = await service.update_configuration("fn", {"Environment": {"Variables": {"A": "2"}}})
    assert changed.revision_id != created.revision_id and store.writes == writes + 1


async def test_update_configuration_validates_like_create(service, store):
    created = await service.create(create_params())
    for params in ({"MemorySize": 64}, {"Timeout": 901}, {"Role": "nope"}, {"Handler": "a b"},
                   {"Runtime": "python2.7"}, {"EphemeralStorage": {"Size": 100}},
                   {"Environment": {"Variables": {"_HANDLER": "x"}}}, {"Description": "d" * 257}):
        with pytest.raises(InvalidParameterValue):
            await service.update_configuration("fn", params)
    assert store.functions["fn"] == created


async def test_update_of_a_missing_function(service):
    with pytest.raises(ResourceNotFound):
        await service.update_configuration("nope", {"Timeout": 5})
    with pytest.raises(ResourceNotFound):
        await service.update_code("nope", {"ZipFile": b64(zip_of())})


async def test_revision_mismatch_is_a_failed_precondition(service, store):
    created = await service.create(create_params())
    with pytest.raises(PreconditionFailed):
        await service.update_configuration("fn", {"Timeout": 5, "RevisionId": "not-the-revision"})
    with pytest.raises(PreconditionFailed):
        await service.update_code("fn", {"ZipFile": b64(zip_of(b"# v2\n")), "RevisionId": "not-the-revision"})
    assert store.functions["fn"] == created


async def test_update_code(service, store):
    created = await service.create(create_params())
    new_zip = zip_of(b"# v2\n")
    updated = await service.update_code("fn", {"ZipFile": b64(new_zip), "RevisionId": created.revision_id})
    assert updated.code_sha256 == inspect_zip(new_zip).sha256 != created.code_sha256
    assert store.functions["fn"] == updated
    assert store.blobs == {updated.code_sha256: new_zip}


async def test_dry_run_update_does_not_store(service, store):
    created = await service.create(create_params())
    blobs, writes = copy.deepcopy(store.blobs), store.writes
    new_zip = zip_of(b"# v2\n")
    result = await service.update_code("fn", {"ZipFile": b64(new_zip), "DryRun": True})
    assert result.code_sha256 == inspect_zip(new_zip).sha256
    assert store.functions["fn"] == created
    assert store.blobs == blobs and store.writes == writes
    assert (await service.get("fn")) == created


async def test_dry_run_still_validates(service):
    await service.create(create_params())
    with pytest.raises(InvalidParameterValue):
        await service.update_code("fn", {"ZipFile": b64(b"not a zip"), "DryRun": True})


async def test_zips_are_checked_in_threads_a_few_at_a_time(service, monkeypatch):
    running, most, threads = 0, 0, set()
    real_inspect = functions_module.inspect_zip

    def slow_inspect(data: bytes):  # type: ignore[no-untyped-def]
        nonlocal running, most
        running += 1
        most = max(most, running)
        threads.add(threading.current_thread())
        time.sleep(0.05)
        running -= 1
        return real_inspect(data)

    monkeypatch.setattr(functions_module, "inspect_zip", slow_inspect)
    ticks = 0

    async def tick() -> None:  # the event loop keeps turning while zips are checked
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticker = asyncio.ensure_future(tick())
    await asyncio.gather(*(service.create(create_params(FunctionName=f"fn{i}")) for i in range(6)))
    ticker.cancel()
    assert threading.main_thread() not in threads
    assert most == ZIP_CHECKS_AT_ONCE
    assert ticks > 6


async def test_get_sees_updates_and_deletes(service):
    created = await service.create(create_params())
    assert await service.get("fn") == created
    updated = await service.update_configuration("fn", {"Timeout": 7})
    assert (await service.get("fn")).timeout == 7 == updated.timeout
    await service.delete("fn")
    with pytest.raises(ResourceNotFound):
        await service.get("fn")


async def test_list_pages(service):
    for name in ("delta", "alpha", "echo", "charlie", "bravo"):
        await service.create(create_params(FunctionName=name))
    page, marker = await service.list(None, 2)
    assert [f.name for f in page] == ["alpha", "bravo"] and marker == "bravo"
    page, marker = await service.list(marker, 2)
    assert [f.name for f in page] == ["charlie", "delta"] and marker == "delta"
    page, marker = await service.list(marker, 2)
    assert [f.name for f in page] == ["echo"] and marker is None
    page, marker = await service.list(None, 5)
    assert len(page) == 5 and marker is None
