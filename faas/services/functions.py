"""Deployments: validating, creating, updating and deleting functions; the cache the invoke path reads."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from faas.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from faas.model import LATEST, Function, utcnow
from faas.sandbox import repositories
from faas.security import envelope
from faas.security.masterkey import MasterKey
from faas.services.cache import TtlCache
from faas.services import parameters
from faas.services.code import CodeInfo, decode_zip_field, inspect_zip
from faas.services.destinations import Target, parse_target
from faas.store.functions import FunctionStore

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# name, partial ARN (account:function:name) or full ARN, each with an optional :qualifier
FUNCTION_REF_RE = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
ROLE_RE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")
HANDLER_RE = re.compile(r"^[^\s]{1,128}$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
MAX_ENV_BYTES = 4 * 1024
# Keys the platform sets itself; Lambda refuses them in a function's configuration too.
RESERVED_ENV_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
DEFAULTS = {"MemorySize": 128, "Timeout": 3, "EphemeralStorage": 512}
# Uploads checked at once, each in a thread: a zip is decoded and read through in full (up to 250 MB
# unpacked, in 1 MB chunks), which must neither stall the event loop nor take every worker thread.
ZIP_CHECKS_AT_ONCE = 2
DEAD_LETTER = "dead-letter target"


def parse_function_ref(raw: str, qualifier: str | None = None,
                       function_arn: Callable[[str], str] = lambda name: name) -> str:
    """The function name from a name or ARN; only $LATEST exists until versions land. An unknown
    version is not found under its qualified ARN, as Lambda words it (`function_arn` makes the ARN)."""
    match = FUNCTION_REF_RE.fullmatch(raw)
    if not match:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{raw[:140]}' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?"
            "([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    for given in (match.group("qualifier"), qualifier):
        if given and given != LATEST:
            raise ResourceNotFound(f"Function not found: {function_arn(match.group('name'))}:{given}")
    return match.group("name")


def _int_in(params: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterValue(f"{key} must be an integer between {low} and {high}; got {value!r}")
    return value


def _string(params: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = params[key]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidParameterValue(f"{key} is not valid: {what}")
    return value


def validate_environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("Variables", {}), dict):
        raise InvalidParameterValue("Environment must be an object with a Variables map")
    variables = value.get("Variables") or {}
    size = 0
    for key, val in variables.items():
        # Never echo values: they are secrets.
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise InvalidParameterValue(f"Environment variable name {str(key)[:64]!r} is not valid: "
                                        "use letters, digits and underscores, starting with a letter")
        if not isinstance(val, str):
            raise InvalidParameterValue(f"Environment variable {key} must have a string value")
        size += len(key.encode()) + len(val.encode())
    reserved = sorted(set(variables) & RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    if size > MAX_ENV_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit ({size} bytes in names and values)."
        )
    return dict(variables)


class Reservations(Protocol):
    """What functions need of the node's concurrency limiter (faas/dispatch/concurrency.py), named here so that
    services do not import dispatch."""

    def check_reservation(self, name: str, reserved: int) -> None: ...

    def set_reserved(self, name: str, reserved: int | None) -> None: ...


class FunctionService:
    def __init__(self, store: FunctionStore, runtimes: tuple[str, ...], limiter: Reservations, master: MasterKey,
                 function_arn: Callable[[str], str], image_exists: Callable[[str], Any] | None = None,
                 role_exists: Callable[[str], Any] | None = None, on_delete: Callable[[str], None] | None = None,
                 image_repositories: tuple[str, ...] = ("faas/",),
                 architectures: tuple[str, ...] = ("x86_64",),
                 check_target: Callable[[str, str, Target, str], Awaitable[None]] | None = None) -> None:
        self._store = store
        self._runtimes = runtimes
        self._limiter = limiter
        self._master = master
        self._function_arn = function_arn
        self._role_exists = role_exists  # async (role ARN) -> the role's ARN, raising for an unknown role
        self._on_delete = on_delete
        self._image_exists = image_exists  # async (ref) -> bool, for PackageType Image
        self._image_repositories = image_repositories  # the operator's allowed repository prefixes
        self._architectures = architectures  # what this node's engine runs natively, in Lambda's names
        # async (role ARN, function, target, what): refuses a dead-letter target the role may not send to
        self._check_target = check_target
        self._cache: TtlCache[Function] = TtlCache()
        self._zip_checks = asyncio.Semaphore(ZIP_CHECKS_AT_ONCE)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, name: str) -> Function:
        fn = self._cache.get(name)
        if fn is None:
            fn = await self._store.get(name)
            if fn is None:
                raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")
            fn = self._cache.put(name, self._unseal(fn))
        return fn

    async def list(self, marker: str | None, max_items: int, *,
                   unseal: Callable[[str], bool] = lambda name: True) -> tuple[list[Function], str | None]:
        """A page of functions; those `unseal` refuses come without their variables (never decrypted)."""
        page = [self._unseal(fn) if unseal(fn.name) else fn.replace(environment={})
                for fn in await self._store.list(marker, max_items + 1)]
        if len(page) > max_items:
            return page[:max_items], page[max_items - 1].name
        return page, None

    async def code(self, fn: Function) -> bytes:
        if fn.code_sha256 is None:
            raise ResourceNotFound(f"Function {fn.name} has no zip code: it is an image function")
        return await self._store.code(fn.code_sha256)

    # -- writes --------------------------------------------------------------------------------

    async def create(self, params: Mapping[str, Any], owner: str | None = None) -> Function:
        """A new function; `owner` is the creating principal's ARN (its usage and budget count there)."""
        if not isinstance(params.get("FunctionName"), str):
            raise InvalidParameterValue("FunctionName is required")
        name = _string(params, "FunctionName", NAME_RE, "1-64 letters, digits, hyphens or underscores")
        if not isinstance(params.get("Role"), str):
            raise InvalidParameterValue("Role is required")
        parameters.refuse_unhonoured("CreateFunction", params)
        parameters.check_logging_config(params, name)
        tags = parameters.validate_tags(params.get("Tags"))
        merged = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
        package_type = merged.get("PackageType", "Zip")
        if package_type not in ("Zip", "Image"):
            raise InvalidParameterValue("PackageType must be Zip or Image")
        code = merged.get("Code")
        if not isinstance(code, dict):
            raise InvalidParameterValue("Code is required")
        parameters.refuse_unhonoured("FunctionCode", code, prefix="Code.")
        fn = Function(
            name=name, runtime=None, handler=None, role="", description="", memory_size=0, timeout=0,
            ephemeral_storage=0, environment={}, package_type=package_type, code_sha256=None, code_size=0,
            image_uri=None, image_config={}, revision_id="", last_modified=utcnow(),
            architecture=parameters.architecture(params, self._architectures) or self._architectures[0],
            owner=owner,
        )
        fn = self._configure(fn, merged)
        if self._role_exists is not None:
            await self._role_exists(fn.role)
        await self._check_dead_letter(fn, None)
        fn, blob = await self._with_code(fn, code)
        fn = self._seal(fn.replace(revision_id=str(uuid.uuid4()), last_modified=utcnow()))
        await self._store.create(fn, blob, tags)
        self._cache.pop(name)
        return fn

    async def update_configuration(self, name: str, params: Mapping[str, Any]) -> Function:
        parameters.refuse_unhonoured("UpdateFunctionConfiguration", params)
        parameters.check_logging_config(params, name)
        current = await self._fresh(name, params.get("RevisionId"))
        fn = self._configure(current, {k: v for k, v in params.items() if v is not None})
        if self._role_exists is not None and fn.role != current.role:
            await self._role_exists(fn.role)
        await self._check_dead_letter(fn, current)
        if fn == current:
            # Nothing differs (a redeploy of the same settings): a new revision would retire the warm
            # environments for nothing, and the next invocation would start cold.
            return current
        return await self._save(current, fn, None)

    async def update_code(self, name: str, params: Mapping[str, Any]) -> Function:
        parameters.refuse_unhonoured("UpdateFunctionCode", params)
        architecture = parameters.architecture(params, self._architectures)
        current = await self._fresh(name, params.get("RevisionId"))
        fn, blob = await self._with_code(current, params)
        if architecture is not None:
            fn = fn.replace(architecture=architecture)
        if params.get("DryRun"):
            return fn
        return await self._save(current, fn, blob)

    async def tags(self, name: str) -> dict[str, str]:
        tags = await self._store.tags(name)
        if tags is None:
            raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")
        return tags

    async def tag(self, name: str, params: Mapping[str, Any]) -> None:
        if not isinstance(params.get("Tags"), dict):
            raise InvalidParameterValue("Tags is required: a map of tag keys to values")
        tags = parameters.validate_tags(params["Tags"])
        await self._store.tag(name, tags, parameters.check_tag_count)

    async def untag(self, name: str, keys: list[str]) -> None:
        if not keys:
            raise InvalidParameterValue("TagKeys is required: at least one tag key")
        await self._store.untag(name, [parameters.validate_tag_key(key) for key in keys])

    async def delete(self, name: str) -> None:
        self._cache.pop(name)
        await self._store.delete(name)
        self._limiter.set_reserved(name, None)
        if self._on_delete is not None:
            self._on_delete(name)

    async def seal_plaintext_environments(self) -> int:
        """Encrypt variables that releases before encryption stored as plaintext; returns how many."""
        legacy = await self._store.plaintext_environments()
        for fn in legacy:
            sealed = self._seal(fn)
            assert sealed.env_ciphertext is not None and sealed.data_key is not None
            await self._store.seal_environment(fn.name, sealed.env_ciphertext, sealed.data_key)
        return len(legacy)

    async def load_reservations(self) -> None:
        for name, reserved in (await self._store.reservations()).items():
            self._limiter.set_reserved(name, reserved)

    async def usage(self) -> tuple[int, int]:
        return await self._store.usage()

    async def put_concurrency(self, name: str, params: Mapping[str, Any]) -> int:
        reserved = params.get("ReservedConcurrentExecutions")
        if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 0:
            raise InvalidParameterValue("ReservedConcurrentExecutions must be an integer of 0 or more")
        await self.get(name)
        self._limiter.check_reservation(name, reserved)
        await self._store.set_reserved_concurrency(name, reserved)
        self._limiter.set_reserved(name, reserved)
        self._cache.pop(name)
        return reserved

    async def delete_concurrency(self, name: str) -> None:
        await self._store.set_reserved_concurrency(name, None)
        self._limiter.set_reserved(name, None)
        self._cache.pop(name)

    # -- helpers -------------------------------------------------------------------------------

    async def _fresh(self, name: str, revision_id: Any) -> Function:
        current = await self._store.get(name)
        if current is None:
            raise ResourceNotFound(f"Function not found: {self._function_arn(name)}")
        current = self._unseal(current)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed()
        return current

    def _seal(self, fn: Function) -> Function:
        """The stored form of the variables: under the function's own data key, bound to its ARN."""
        data_key = fn.data_key or envelope.new_data_key(self._master, self._function_arn(fn.name))[1]
        ciphertext = envelope.encrypt_environment(self._master, data_key, self._function_arn(fn.name),
                                                  fn.environment)
        return fn.replace(env_ciphertext=ciphertext, data_key=data_key)

    def _unseal(self, fn: Function) -> Function:
        if fn.env_ciphertext is None or fn.data_key is None:
            return fn  # not yet migrated: plaintext from before encryption, sealed at the next start
        return fn.replace(environment=envelope.decrypt_environment(
            self._master, fn.data_key, self._function_arn(fn.name), fn.env_ciphertext))

    async def _check_dead_letter(self, fn: Function, current: Function | None) -> None:
        """A new dead-letter target, or a new role for an old one: the role must be allowed to send to it."""
        unchanged = current is not None and (fn.dead_letter_target, fn.role) == (current.dead_letter_target,
                                                                              current.role)
        if fn.dead_letter_target and not unchanged and self._check_target is not None:
            target = parse_target(fn.dead_letter_target, DEAD_LETTER, ("sqs", "sns"))
            await self._check_target(fn.role, fn.name, target, DEAD_LETTER)

    async def _save(self, current: Function, fn: Function, blob: bytes | None) -> Function:
        fn = self._seal(fn.replace(revision_id=str(uuid.uuid4()), last_modified=utcnow()))
        try:
            await self._store.replace(fn, blob, current.revision_id)
        finally:
            self._cache.pop(fn.name)
        return fn

    def _configure(self, fn: Function, params: Mapping[str, Any]) -> Function:
        """Apply configuration fields (shared by create and update), validating each."""
        changes: dict[str, Any] = {}
        if "Role" in params:
            changes["role"] = _string(params, "Role", ROLE_RE, "expected arn:aws:iam::<account>:role/<name>")
        if "Description" in params:
            if not isinstance(params["Description"], str) or len(params["Description"]) > 256:
                raise InvalidParameterValue("Description must be a string of at most 256 characters")
            changes["description"] = params["Description"]
        if "MemorySize" in params:
            changes["memory_size"] = _int_in(params, "MemorySize", 128, 10240)
        if "Timeout" in params:
            changes["timeout"] = _int_in(params, "Timeout", 1, 900)
        if "EphemeralStorage" in params:
            storage = params["EphemeralStorage"]
            size = storage.get("Size") if isinstance(storage, dict) else storage
            changes["ephemeral_storage"] = _int_in({"EphemeralStorage.Size": size}, "EphemeralStorage.Size",
                                                   512, 10240)
        if "Environment" in params:
            changes["environment"] = validate_environment(params["Environment"])
        if "LoggingConfig" in params:
            changes["logging_config"] = parameters.logging_config(params["LoggingConfig"], fn.logging_config)
        if "DeadLetterConfig" in params:
            changes["dead_letter_target"] = _dead_letter_target(params["DeadLetterConfig"])
        if fn.package_type == "Zip":
            runtime = params.get("Runtime", fn.runtime)
            if runtime not in self._runtimes:
                raise InvalidParameterValue(
                    f"Value {runtime!r} at 'runtime' failed to satisfy constraint: Member must satisfy enum "
                    f"value set: [{', '.join(self._runtimes)}]"
                )
            changes["runtime"] = runtime
            handler = params.get("Handler", fn.handler)
            if handler is None:
                raise InvalidParameterValue("Handler is required for Zip functions")
            changes["handler"] = _string({"Handler": handler}, "Handler", HANDLER_RE,
                                         "1-128 characters without whitespace, e.g. app.handler")
        else:
            for key in ("Runtime", "Handler"):
                if key in params:
                    raise InvalidParameterValue(f"{key} is not supported for image functions")
            if "ImageConfig" in params:
                changes["image_config"] = _image_config(params["ImageConfig"])
        if fn.package_type == "Zip" and params.get("ImageConfig"):
            raise InvalidParameterValue("ImageConfig is only supported for image functions (PackageType Image)")
        return fn.replace(**changes)

    async def _with_code(self, fn: Function, code: Mapping[str, Any]) -> tuple[Function, bytes | None]:
        if fn.package_type == "Zip":
            if "ImageUri" in code:
                raise InvalidParameterValue("ImageUri is only valid for image functions")
            if "ZipFile" not in code:
                raise InvalidParameterValue("Code.ZipFile is required (S3 code locations are not supported)")
            async with self._zip_checks:
                data, info = await asyncio.to_thread(_read_zip_field, code["ZipFile"])
            return fn.replace(code_sha256=info.sha256, code_size=info.size), data
        uri = code.get("ImageUri")
        if not isinstance(uri, str) or not uri or len(uri) > repositories.MAX_URI_LENGTH:
            raise InvalidParameterValue("Code.ImageUri is required for image functions")
        repo = repositories.repository(uri)
        if repo is None:
            raise InvalidParameterValue(f"Source image {uri} is not valid. Provide a valid source image.")
        if not repositories.allowed(repo, self._image_repositories):
            # Checked before the engine is asked, so nobody learns which other images the host holds.
            allowed = ", ".join(p + "*" for p in self._image_repositories) or "none"
            raise InvalidParameterValue(
                f"Source image {uri} is not in a repository this platform allows (allowed: {allowed}).")
        if self._image_exists is not None and not await self._image_exists(uri):
            raise InvalidParameterValue(
                f"Source image {uri} does not exist on this node. Build or load it into the local Docker engine first."
            )
        return fn.replace(image_uri=uri, code_size=0), None


def _dead_letter_target(value: Any) -> str | None:
    """DeadLetterConfig's TargetArn; {} or an empty TargetArn removes it (UpdateFunctionConfiguration's way)."""
    if not isinstance(value, dict):
        raise InvalidParameterValue("DeadLetterConfig must be an object with a TargetArn")
    arn = value.get("TargetArn")
    if arn in (None, ""):
        return None
    return parse_target(arn, DEAD_LETTER, ("sqs", "sns")).arn


def _read_zip_field(value: Any) -> tuple[bytes, CodeInfo]:
    data = decode_zip_field(value)
    return data, inspect_zip(data)


def _image_config(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameterValue("ImageConfig must be an object")
    config: dict[str, Any] = {}
    for key in ("EntryPoint", "Command"):
        if key in value:
            items = value[key]
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise InvalidParameterValue(f"ImageConfig.{key} must be a list of strings")
            config[key] = items
    if "WorkingDirectory" in value:
        if not isinstance(value["WorkingDirectory"], str):
            raise InvalidParameterValue("ImageConfig.WorkingDirectory must be a string")
        config["WorkingDirectory"] = value["WorkingDirectory"]
    return config
