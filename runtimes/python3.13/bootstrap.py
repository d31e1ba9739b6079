"""The python3.13 runtime's bootstrap: imports the function's handler and serves its invocations
over the Lambda Runtime API, the way AWS's own Python runtime client (awslambdaric) does.

It runs as the container's entrypoint, uses only the standard library and never imports faas.

Inputs (environment):
  AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (no scheme)
  _HANDLER                 `module.function`; the module may be dotted or a path (`dir/sub.mod`)
  LAMBDA_TASK_ROOT         the function's code (default /var/task), put first on sys.path
  AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME, _LOG_STREAM_NAME
                           copied into the context object
  AWS_LAMBDA_LOG_LEVEL     optional level of the root logger (as on AWS; default WARNING)
  AWS_LAMBDA_LOG_FORMAT    `JSON` formats the logging module's records as JSON objects, as AWS's
                           runtime does with LoggingConfig LogFormat JSON (print() stays as it is)

Output: the function's log is what the process (and any child of it) writes to stdout and stderr, as
on AWS. The platform reads the container's stdout and stderr from a pipe of its own and takes what
was written since the previous invocation when the answer arrives, so the bootstrap line-buffers
both and flushes them before it posts a response or an error; output written during init is part
of the first invocation's log (or of the init error's), and what was printed before a crash stays.

Prewarmed start (a faas extension): a generic container starts with FAAS_PREWARMED=1, the
variables that do not depend on a function, no _HANDLER and an empty /var/task. The bootstrap then
does everything it can without the function (imports, line buffering, the connection) and long-polls
`GET /runtime/faas/specialize`. A 200 answer `{"environment": {"NAME": "value", ...}}` is merged
into os.environ, FAAS_PREWARMED is removed, and the start goes on as a normal one: import the
handler, report an init error, serve invocations. Any other answer, or no connection: exit 1.

On SIGTERM the bootstrap stops (its output so far flushed).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import socket
import sys
import time
import traceback

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_MACHINERY_FILES = frozenset({os.path.abspath(__file__), os.path.abspath(importlib.__file__)})


# --- errors -----------------------------------------------------------------------------------

class FaultError(Exception):
    """A failure with one of the runtime's stable error types (`Runtime.ImportModuleError`, ...)."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


class RuntimeApiError(Exception):
    """The Runtime API cannot be reached or broke the protocol: the environment is unusable."""


def make_error(message: str, error_type: str, stack_trace: list[str], request_id: str = "") -> dict:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack_trace}


def error_from_exception(exc: BaseException, request_id: str = "") -> dict:
    if isinstance(exc, FaultError):
        return make_error(exc.message, exc.error_type, exc.stack_trace, request_id)
    return make_error(str(exc), type(exc).__name__, user_stack_trace(exc), request_id)


def user_stack_trace(exc: BaseException) -> list[str]:
    """Frames of the user's code, formatted like awslambdaric (no column carets), without the
    bootstrap's frames and the import machinery's."""
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(exc.__traceback__)
              if not _is_machinery(f.filename)]
    return traceback.format_list(frames)


def _is_machinery(filename: str) -> bool:
    return filename.startswith("<frozen importlib") or os.path.abspath(filename) in _MACHINERY_FILES


def log_error(error: dict) -> None:
    """Write an unhandled error into the function's log the way AWS's runtime does."""
    lines = ["[ERROR] " + error["errorType"] + (": " + error["errorMessage"] if error["errorMessage"] else "")]
    lines.append("Traceback (most recent call last):")
    for element in error["stackTrace"]:
        lines.extend(element.splitlines() or [""])
    sys.stdout.write("\n".join(lines) + "\n")


# --- the Runtime API client -------------------------------------------------------------------

class RuntimeApi:
    """A small HTTP/1.1 client on one persistent keep-alive connection to the Runtime API.

    Not http.client: parsing response headers with the email package costs ~0.25 ms of CPU per
    invocation, three times what all of this costs, on the same cores the platform needs.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeApiError(f"AWS_LAMBDA_RUNTIME_API must be host:port, got {address!r}")
        self._address = (host.strip("[]"), int(port))
        self._host_header = address
        self._sock: socket.socket | None = None
        self._reader = None

    def call(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body). No timeout: /next is a long poll."""
        lines = [f"{method} {API_PREFIX}{path} HTTP/1.1", f"Host: {self._host_header}",
                 f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in (headers or {}).items())]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            reused = self._sock is not None
            try:
                if not reused:
                    self._connect()
                self._sock.sendall(request)
                return self._read_response()
            except ConnectionError as exc:
                self.close()
                # A kept-alive connection the server closed meanwhile is retried once, fresh.
                if not reused or attempt == 2:
                    raise RuntimeApiError(f"{method} {path}: {exc}") from exc
            except (OSError, ValueError) as exc:
                self.close()
                raise RuntimeApiError(f"{method} {path}: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
        self._sock = self._reader = None

    def _connect(self) -> None:
        sock = socket.create_connection(self._address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._reader = sock, sock.makefile("rb")

    def _read_response(self) -> tuple[int, dict[str, str], bytes]:
        version, status, *_ = self._read_line().split(None, 2)
        status = int(status)
        headers = {}
        while (line := self._read_line()) not in (b"\r\n", b"\n"):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._read_body(status, headers)
        connection = headers.get("connection", "").lower()
        if connection == "close" or (version == b"HTTP/1.0" and connection != "keep-alive"):
            self.close()
        return status, headers, body

    def _read_body(self, status: int, headers: dict[str, str]) -> bytes:
        if status < 200 or status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int(self._read_line().split(b";")[0], 16):
                chunks.append(self._read_exactly(size))
                self._read_line()
            while self._read_line() not in (b"\r\n", b"\n"):  # trailers
                pass
            return b"".join(chunks)
        if "content-length" in headers:
            return self._read_exactly(int(headers["content-length"]))
        body = self._reader.read()  # no length: the body ends with the connection
        self.close()
        return body

    def _read_line(self) -> bytes:
        line = self._reader.readline(65536)
        if not line.endswith(b"\n"):
            raise ConnectionResetError("the Runtime API closed the connection")
        return line

    def _read_exactly(self, size: int) -> bytes:
        data = self._reader.read(size)
        if len(data) != size:
            raise ConnectionResetError("the Runtime API closed the connection mid-body")
        return data

    def next_invocation(self) -> tuple[dict[str, str], bytes]:
        status, headers, body = self.call("GET", "/invocation/next")
        if status != 200:
            raise RuntimeApiError(f"GET /invocation/next answered {status}: {body[:200]!r}")
        return headers, body

    def post(self, path: str, body: bytes, content_type: str, error_type: str | None = None) -> int:
        headers = {"Content-Type": content_type}
        if error_type and error_type.isascii() and error_type.isprintable():  # a class name can be anything
            headers[ERROR_TYPE_HEADER] = error_type
        status, _, answer = self.call("POST", path, body, headers)
        if status >= 300:
            diagnose(f"POST {path} answered {status}: {answer[:200]!r}")
        return status


# --- output ---------------------------------------------------------------------------------

def line_buffer_output() -> None:
    """stdout and stderr are the platform's pipe, block-buffered by default: line buffering keeps
    print() and a child's direct writes in order, one write a line."""
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)


def flush_output() -> None:
    """Before an answer: the platform takes the output when the answer arrives."""
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}.values():
        try:
            stream.flush()
        except Exception:  # a user's replacement stream may not flush; its output is its own
            pass


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def diagnose(message: str) -> None:
    """The bootstrap's own trouble goes to stderr, so the function's log shows it."""
    try:
        flush_output()
        write_all(2, f"faas bootstrap: {message}\n".encode("utf-8", "replace"))
    except OSError:
        pass


# --- logging ----------------------------------------------------------------------------------

class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time, as AWS's handler does."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            sys.stdout.write(message if message.endswith("\n") else message + "\n")
        except Exception:
            self.handleError(record)


def setup_logging() -> RequestIdFilter:
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    request_ids = RequestIdFilter()
    handler = StdoutHandler()
    handler.setFormatter(formatter)
    handler.addFilter(request_ids)
    logging.getLogger().addHandler(handler)
    return request_ids


# AWS's JSON records name levels as Lambda's ApplicationLogLevel does.
_JSON_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class JsonFormatter(logging.Formatter):
    """One JSON object a record, with the fields AWS's Python runtime writes for LogFormat JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": _JSON_LEVELS.get(record.levelname, record.levelname),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", ""),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["errorType"] = type(record.exc_info[1]).__name__
            entry["errorMessage"] = str(record.exc_info[1])
            entry["stackTrace"] = traceback.format_tb(record.exc_info[2])
        return json.dumps(entry, ensure_ascii=False, default=str)


def apply_log_format(request_ids: RequestIdFilter) -> None:
    """AWS_LAMBDA_LOG_FORMAT=JSON swaps the text formatter for JSON objects (AWS then defaults to INFO)."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() != "JSON":
        return
    for handler in logging.getLogger().handlers:
        if request_ids in handler.filters:
            handler.setFormatter(JsonFormatter())
    logging.getLogger().setLevel(logging.INFO)


def apply_log_level() -> None:
    """AWS_LAMBDA_LOG_LEVEL is a function's setting: read once the environment is the function's."""
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    level = {"TRACE": "DEBUG"}.get(level, level)
    if level and isinstance(logging.getLevelName(level), int):  # a known level name
        logging.getLogger().setLevel(level)


# --- the handler ------------------------------------------------------------------------------

def load_handler(spec: str):
    """Import `module.function` from the task root; raise FaultError with AWS's error types."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError("Runtime.BuiltInModuleConflict",
                         f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}",
                         trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound",
                         f"Handler '{function_name}' missing on module '{module_name}'") from None


# --- the context object -----------------------------------------------------------------------

class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, fields: dict) -> None:
        self.cognito_identity_id = fields.get("cognitoIdentityId")
        self.cognito_identity_pool_id = fields.get("cognitoIdentityPoolId")


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, fields: dict) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.get(name))


class ClientContext:
    __slots__ = ("custom", "env", "client")

    def __init__(self, fields: dict) -> None:
        self.custom = fields.get("custom")
        self.env = fields.get("env")
        client = fields.get("client")
        self.client = Client(client) if client is not None else None


class LambdaContext:
    """What the handler gets as `context`; names and types as in AWS's Python runtime."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str | None,
                 client_context: dict | None, identity: dict | None, function: dict) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function["function_name"]
        self.function_version = function["function_version"]
        self.memory_limit_in_mb = function["memory_limit_in_mb"]  # a string, as in AWS's client
        self.log_group_name = function["log_group_name"]
        self.log_stream_name = function["log_stream_name"]
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity(identity or {})
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message) -> None:
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r})"


def function_fields() -> dict:
    env = os.environ
    return {
        "function_name": env.get("AWS_LAMBDA_FUNCTION_NAME"),
        "function_version": env.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "memory_limit_in_mb": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "log_group_name": env.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "log_stream_name": env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    }


def parse_json_header(value: str | None, name: str):
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FaultError("Runtime.LambdaContextUnmarshalError", f"Unable to parse {name} JSON: {exc}") from None


def make_context(request_id: str, headers: dict[str, str], function: dict) -> LambdaContext:
    return LambdaContext(
        request_id,
        int(headers.get("lambda-runtime-deadline-ms") or 0),
        headers.get("lambda-runtime-invoked-function-arn"),
        parse_json_header(headers.get("lambda-runtime-client-context"), "Client Context"),
        parse_json_header(headers.get("lambda-runtime-cognito-identity"), "Cognito Identity"),
        function,
    )


# --- (un)marshalling --------------------------------------------------------------------------

def _encode_default(value):
    import decimal  # only a result that needs it pays for the import

    # boto3 hands out DynamoDB numbers as Decimal; awslambdaric writes them as JSON numbers.
    if isinstance(value, decimal.Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=True, default=_encode_default)


def decode_event(body: bytes, content_type: str | None):
    # Like awslambdaric: JSON only when the event says it is JSON, else the raw bytes.
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        return body
    try:
        return json.loads(body)
    except ValueError as exc:
        raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None


def encode_result(result) -> tuple[bytes, str]:
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return _encoder.encode(result).encode("utf-8"), "application/json"
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (lone surrogates) is a ValueError
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


# --- the loop ---------------------------------------------------------------------------------

def invoke(handler, body: bytes, headers: dict[str, str], request_id: str,
           function: dict) -> tuple[str, bytes, str, str | None]:
    """Run the handler once: (path suffix, body, content type, error type)."""
    try:
        context = make_context(request_id, headers, function)
        event = decode_event(body, headers.get("content-type"))
        result, content_type = encode_result(handler(event, context))
        return "response", result, content_type, None
    except Exception as exc:
        error = error_from_exception(exc, request_id)
        log_error(error)
        return "error", _encoder.encode(error).encode("utf-8"), "application/json", error["errorType"]


def serve_one(api: RuntimeApi, handler, request_ids: RequestIdFilter, function: dict) -> None:
    headers, body = api.next_invocation()
    request_id = headers.get("lambda-runtime-aws-request-id")
    if not request_id:
        raise RuntimeApiError("GET /invocation/next answered without Lambda-Runtime-Aws-Request-Id")
    request_ids.request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        outcome, payload, content_type, error_type = invoke(handler, body, headers, request_id, function)
    finally:  # also on SystemExit or SIGTERM: the process ends, and this invocation's log keeps its output
        flush_output()
    api.post(f"/invocation/{request_id}/{outcome}", payload, content_type, error_type)


def fail_init(api: RuntimeApi, exc: BaseException) -> None:
    error = error_from_exception(exc)
    log_error(error)
    flush_output()
    api.post("/init/error", _encoder.encode(error).encode("utf-8"), "application/json", error["errorType"])


def specialize(api: RuntimeApi) -> None:
    """Wait to be bound to a function, then take on its environment (see the module docstring)."""
    status, _, body = api.call("GET", "/faas/specialize")
    if status != 200:
        raise RuntimeApiError(f"GET /faas/specialize answered {status}: {body[:200]!r}")
    try:
        environment = json.loads(body)["environment"]
    except (ValueError, KeyError, TypeError):
        environment = None
    if not isinstance(environment, dict) or not all(isinstance(v, str) for v in environment.values()):
        raise RuntimeApiError('GET /faas/specialize: expected {"environment": {"NAME": "value", ...}}')
    python_path = os.environ.get("PYTHONPATH", "")
    os.environ.update(environment)
    os.environ.pop("FAAS_PREWARMED", None)
    if os.environ.get("PYTHONPATH", "") != python_path:  # read by the interpreter at start only
        sys.path[1:1] = [p for p in os.environ["PYTHONPATH"].split(os.pathsep) if p and p not in sys.path]


def on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        diagnose("AWS_LAMBDA_RUNTIME_API is not set")
        return 1
    line_buffer_output()
    # As PID 1 in a container, SIGTERM without a handler would be ignored until SIGKILL.
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        api = RuntimeApi(address)
        request_ids = setup_logging()
        if os.environ.get("FAAS_PREWARMED"):
            import decimal  # noqa: F401  (imported lazily otherwise; here the wait pays for it)

            # Everything above is done; after this answer only the handler's import is left.
            specialize(api)
        apply_log_format(request_ids)
        apply_log_level()
        sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
        try:
            handler = load_handler(os.environ.get("_HANDLER", ""))
        except Exception as exc:
            fail_init(api, exc)
            return 1
        function = function_fields()
        while True:
            serve_one(api, handler, request_ids, function)
    except RuntimeApiError as exc:
        diagnose(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
