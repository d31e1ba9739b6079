"""A scripted Lambda Runtime API for testing runtimes: hands out queued events, records every call.

When its queue is empty it answers `/next` with 500, which makes a well-behaved runtime exit;
tests then read what it posted. A chunked POST (a streamed response) is recorded as it arrives: its
Call is in `calls` from its head on, with each chunk appended to `chunks` as it comes and the trailers
at the end. A prewarmed runtime's `GET /runtime/faas/specialize` is held open
until the test answers it with `specialize(...)`.

Like the platform, it owns a pipe for the runtime's stdout and stderr (`output_fd`, to hand to the
runtime's process), read as data arrives; what was written before an answer (`/response`, `/error`,
`/init/error`) is that answer's `Call.output`, and `take_output()` has what came after the last one.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import queue
import select
import socket
import threading
import time
import uuid

from faas.sandbox.runtime_api import shell_exports

PREFIX = "/2018-06-01/runtime"


@dataclasses.dataclass
class Event:
    body: bytes = b"{}"
    request_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    deadline_ms: int | None = None  # None: 30 s from when it is handed out


@dataclasses.dataclass
class Call:
    method: str
    path: str  # without the /2018-06-01/runtime prefix
    headers: dict[str, str]
    body: bytes
    received_at: float = dataclasses.field(default_factory=time.monotonic)
    chunks: list[bytes] = dataclasses.field(default_factory=list)  # of a chunked body, as they came
    trailers: dict[str, str] = dataclasses.field(default_factory=dict)
    complete: bool = True  # False while a chunked body is still arriving
    output: str = ""  # for an answer: what the runtime wrote since the previous answer

    def json(self):
        return json.loads(self.body)


class FakeRuntimeApi:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.calls: list[Call] = []
        self._output_read, self.output_fd = os.pipe()
        os.set_blocking(self._output_read, False)
        self._output = bytearray()
        self._output_lock = threading.Lock()
        self._output_reader = threading.Thread(target=self._read_output, daemon=True)
        self._specializations: queue.Queue[tuple[int, bytes, dict[str, str]]] = queue.Queue()
        self._closing = threading.Event()
        self._server = http.server.ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> FakeRuntimeApi:
        self._thread.start()
        self._output_reader.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._output_reader.join()
        os.close(self.output_fd)
        os.close(self._output_read)

    def take_output(self) -> str:
        """What the runtime wrote since the last answer (or the last call of this)."""
        with self._output_lock:
            self._drain()
            data = bytes(self._output)
            self._output.clear()
        return data.decode("utf-8", "replace")

    def logs(self) -> list[str]:
        """The output of each answer that had any, in order."""
        return [c.output for c in self.calls if c.output]

    def _read_output(self) -> None:
        # As the platform's event loop: read as data arrives, so a runtime never blocks on a full pipe.
        while not self._closing.is_set():
            ready, _, _ = select.select([self._output_read], [], [], 0.05)
            if ready:
                with self._output_lock:
                    self._drain()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._output_read, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._output += chunk

    def add(self, body: bytes | str | dict = b"{}", **fields) -> Event:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        event = Event(body=body, **fields)
        self.events.put(event)
        return event

    def specialize(self, environment: dict[str, str] | None = None, *, status: int = 200,
                   body: bytes | None = None) -> None:
        """Answer the (pending or next) `GET /faas/specialize`: 200 {"environment": ...} by default
        (`export` lines when asked with ?format=shell, as the real one)."""
        if body is None:
            body = json.dumps({"environment": environment or {}}).encode() if status == 200 else \
                b'{"errorType":"Forbidden","errorMessage":"not a prewarmed environment"}'
        self._specializations.put((status, body, environment or {}))

    def wait_for_call(self, method: str, path: str, timeout: float = 20) -> Call:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in list(self.calls):
                if call.method == method and call.path == path:
                    return call
            time.sleep(0.01)
        raise TimeoutError(f"no {method} {path} within {timeout} s; calls: {[c.path for c in self.calls]}")

    def posts(self, suffix: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path.endswith(suffix)]

    def _record(self, call: Call) -> None:
        self.calls.append(call)

    def _handler_class(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real server
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                path, _, query = self.path.removeprefix(PREFIX).partition("?")
                fake._record(Call("GET", path, dict(self.headers), b""))
                if path == "/faas/specialize":
                    return self._specialize(shell=query == "format=shell")
                if path != "/invocation/next":
                    return self._answer(404, b'{"errorType":"NotFound"}')
                try:
                    event = fake.events.get_nowait()
                except queue.Empty:
                    return self._answer(500, b'{"errorMessage":"no more events"}')
                deadline = event.deadline_ms or int(time.time() * 1000) + 30_000
                headers = {"Lambda-Runtime-Aws-Request-Id": event.request_id,
                           "Lambda-Runtime-Deadline-Ms": str(deadline),
                           "Lambda-Runtime-Invoked-Function-Arn":
                               "arn:aws:lambda:us-east-1:000000000000:function:fn",
                           "Content-Type": "application/json", **event.headers}
                self._answer(200, event.body, headers)

            def do_POST(self) -> None:
                path = self.path.removeprefix(PREFIX)
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    call = Call("POST", path, dict(self.headers), b"", complete=False)
                    fake._record(call)
                    self._read_chunks(call)
                    return self._answer(202, b'{"status":"OK"}')
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                call = Call("POST", path, dict(self.headers), body)
                if path.endswith(("/response", "/error")):  # /init/error too
                    call.output = fake.take_output()
                fake._record(call)
                self._answer(202, b'{"status":"OK"}')

            def _read_chunks(self, call: Call) -> None:
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        break
                    call.chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after the data
                while line := self.rfile.readline().strip():
                    name, _, value = line.decode("latin-1").partition(":")
                    call.trailers[name.strip()] = value.strip()
                call.body = b"".join(call.chunks)
                call.complete = True

            def _specialize(self, shell: bool) -> None:
                while not fake._closing.is_set():  # a long poll, as long as the test needs
                    try:
                        status, body, environment = fake._specializations.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if shell and status == 200:
                        return self._answer(200, shell_exports(environment).encode(),
                                            {"Content-Type": "text/plain; charset=utf-8"})
                    return self._answer(status, body)

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class ScriptedServer:
    """Answers the n-th request with the n-th canned answer; None closes the connection instead.

    For testing a runtime's HTTP client itself: `drip` sends answers a few bytes at a time.
    """

    def __init__(self, answers: list[bytes | None], *, drip: bool = False) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.drip = drip
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            connection, _ = self.listener.accept()
            self.connections += 1
            with connection, connection.makefile("rb") as reader:
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    self.requests.append(head + reader.read(length[0] if length else 0))
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    self._send(connection, answer)

    def _send(self, connection: socket.socket, answer: bytes) -> None:
        if not self.drip:
            connection.sendall(answer)
            return
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(answer), 3):
            connection.sendall(answer[start:start + 3])
            time.sleep(0.001)

    def close(self) -> None:
        self.listener.close()
