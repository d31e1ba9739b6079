"""Egress from functions: a function deployed with boto3 tries TCP connects to the host and to addresses
on this machine, under FAAS_EGRESS public (the default), none and open, with and without FAAS_EGRESS_ALLOW.

Every probe goes to an address on this machine: the bridge gateway of the test's own Docker network, or
addresses added to an empty bridge the test creates (this kernel has no dummy driver), each checked to be
`local` with `ip route get` before any function connects to it. Each server runs on a network of its own,
so other servers on this machine (on the `faas` network) are not disturbed.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from faas.sandbox.firewall import CLOSED_RANGES, chains_for
from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker

METADATA = "169.254.169.254"
BLOCKED = "EHOSTUNREACH"  # the firewall's REJECT: "No route to host" at once, not a hang

PROBE = r'''
import errno, os, socket, urllib.error, urllib.request


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.settimeout(5)
            try:
                return "connected:" + conn.recv(64).decode(errors="replace")
            except OSError:
                return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, "") if exc.errno else type(exc).__name__


def platform():
    try:
        with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/2015-03-31/functions/", timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return type(exc).__name__


def handler(event, context):
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    return {"runtime_api": connect(host, int(port)), "platform": platform(),
            "targets": {name: connect(address, port) for name, (address, port) in event["targets"].items()}}
'''
PROBE_ZIP = make_zip({"app.py": PROBE})


class Listener:
    """A TCP listener on one address that greets and counts whoever connects."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, peer = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                self.peers.append(peer[0])
                with contextlib.suppress(OSError):
                    conn.sendall(b"hello")

    @property
    def target(self) -> tuple[str, int]:
        return self.address, self.port

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self.sock.close()


def route(address: str) -> str:
    """How this machine would send to `address` ("" when it has no route at all)."""
    return subprocess.run(["ip", "route", "get", address], capture_output=True, text=True, check=False).stdout


def route_is_local(address: str) -> bool:
    return route(address).startswith("local ")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def probe_bridge() -> Iterator[dict[str, str]]:
    """An empty bridge holding the metadata address and two private-range addresses, all local."""
    name = f"fegr{secrets.token_hex(3)}"
    privates: list[str] = []
    for _ in range(500):
        if len(privates) == 2:
            break
        candidate = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
        # Neither on this machine already nor on an attached network, where it could be a neighbour's
        # address that this test would hide from the host for a while.
        way = route(candidate)
        if (way == "" or " via " in way) and not way.startswith("local ") and candidate not in privates:
            privates.append(candidate)
    else:
        pytest.fail("found no 10.x address that is neither on this machine nor on a network attached to it")
    addresses = {"metadata": METADATA, "allowed": privates[0], "private": privates[1]}
    ip("link", "add", name, "type", "bridge")
    try:
        for address in addresses.values():
            ip("addr", "add", f"{address}/32", "dev", name)
        ip("link", "set", name, "up")
        for address in addresses.values():
            assert route_is_local(address), address
        yield addresses
    finally:
        ip("link", "del", name)
    for address in (privates[0], privates[1]):
        assert not route_is_local(address)


@contextlib.contextmanager
def listeners(addresses: dict[str, str]) -> Iterator[dict[str, Listener]]:
    opened: dict[str, Listener] = {}
    try:
        for name, address in addresses.items():
            opened[name] = Listener(address)
        yield opened
    finally:
        for listener in opened.values():
            listener.close()


def gateway_of(network: str) -> str:
    attrs = docker.from_env().networks.get(network).attrs
    return next(c["Gateway"] for c in attrs["IPAM"]["Config"] if c.get("Gateway"))


def chains_listing(network: str) -> str:
    chains = chains_for(network)
    save = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in save.splitlines() if chains.host in line or chains.egress in line)


@contextlib.contextmanager
def egress_server(tmp_path: Path, **env: str) -> Iterator[tuple[Server, str]]:
    """A server on a Docker network of its own; afterwards the network goes, and its chains must be gone."""
    network = f"fegr-{secrets.token_hex(4)}"
    server = Server(tmp_path / f"data-{network}", extra_env={
        "FAAS_DOCKER_NETWORK": network, "FAAS_PREWARM_PER_RUNTIME": "1", **env})
    try:
        server.start()
        yield server, network
        assert server.stop() == 0
        assert chains_listing(network) == ""  # the stopped server left no chain and no jump
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
        with contextlib.suppress(docker.errors.NotFound):
            docker.from_env().networks.get(network).remove()


def probe(server: Server, targets: dict[str, tuple[str, int]]) -> dict:
    for address, _ in targets.values():
        assert route_is_local(address), f"{address} is not on this machine: not probing it"
    lam = server.client()
    name = unique("egress")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": PROBE_ZIP}, Timeout=60)
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"targets": targets}).encode())
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    return result


def assert_platform_reachable(result: dict) -> None:
    assert result["runtime_api"] == "connected", result  # the Runtime API...
    assert result["platform"] == 403, result  # ...and the API endpoint answer (this request is unsigned)


def test_public_default_reaches_the_platform_and_allowed_ranges_only(tmp_path, probe_bridge) -> None:
    allow = f"{probe_bridge['allowed']}/32"
    with egress_server(tmp_path, FAAS_EGRESS_ALLOW=allow) as (server, network), \
            listeners({"gateway": gateway_of(network), **probe_bridge}) as heard:
        result = probe(server, {name: listener.target for name, listener in heard.items()})
        assert_platform_reachable(result)
        assert result["targets"] == {
            "gateway": BLOCKED,  # another port on the host: closed
            "metadata": BLOCKED,  # 169.254.169.254: closed
            "private": BLOCKED,  # a private range: closed by default
            "allowed": "connected:hello",  # ...and open once FAAS_EGRESS_ALLOW lists it
        }
        assert {name: len(listener.peers) for name, listener in heard.items()} == {
            "gateway": 0, "metadata": 0, "private": 0, "allowed": 1}

        rules = chains_listing(network)
        chains = chains_for(network)
        for cidr in CLOSED_RANGES:  # what the host forwards: private ranges closed, the rest left to Docker
            assert f"-A {chains.egress} -d {cidr} -j REJECT --reject-with icmp-admin-prohibited" in rules
        assert f"-A {chains.egress} -d {allow} -j RETURN" in rules
        assert f"-A {chains.egress} -j REJECT" not in rules  # the public internet stays open


def test_servers_sharing_a_network_keep_each_others_ports_and_must_share_its_policy(tmp_path, probe_bridge) -> None:
    with egress_server(tmp_path) as (first, network):
        gateway = gateway_of(network)
        second = Server(tmp_path / "second", extra_env={"FAAS_DOCKER_NETWORK": network,
                                                         "FAAS_PREWARM_PER_RUNTIME": "0"}).start()
        try:
            assert_platform_reachable(probe(second, {}))
            assert_platform_reachable(probe(first, {}))  # a new environment of the first server still gets in
        finally:
            assert second.stop() == 0
        assert chains_for(network).host in chains_listing(network)  # the first server still runs: rules stay
        with listeners({"gateway": gateway}) as heard:
            result = probe(first, {"gateway": heard["gateway"].target})
        assert_platform_reachable(result)
        assert result["targets"] == {"gateway": BLOCKED}

        differing = Server(tmp_path / "differing", extra_env={"FAAS_DOCKER_NETWORK": network, "FAAS_EGRESS": "none"})
        with pytest.raises(RuntimeError) as caught:
            differing.start()
        assert differing.proc is not None and differing.proc.returncode == 2
        refusal = str(caught.value)
        assert f"the Docker network {network!r} is already firewalled with a different FAAS_EGRESS" in refusal
        assert str(first.proc.pid) in refusal and "Traceback" not in refusal
        assert_platform_reachable(probe(first, {}))  # the refused server changed nothing of the first's


def test_none_reaches_only_the_platform_and_the_allow_list(tmp_path, probe_bridge) -> None:
    allow = f"{probe_bridge['allowed']}/32"
    with egress_server(tmp_path, FAAS_EGRESS="none", FAAS_EGRESS_ALLOW=allow) as (server, network), \
            listeners({"gateway": gateway_of(network), **probe_bridge}) as heard:
        result = probe(server, {name: listener.target for name, listener in heard.items()})
        assert_platform_reachable(result)
        assert result["targets"] == {"gateway": BLOCKED, "metadata": BLOCKED, "private": BLOCKED,
                                     "allowed": "connected:hello"}
        chains = chains_for(network)
        forwarded = [line for line in chains_listing(network).splitlines() if line.startswith(f"-A {chains.egress}")]
        assert forwarded[-2:] == [f"-A {chains.egress} -d {allow} -j RETURN",
                                  f"-A {chains.egress} -j REJECT --reject-with icmp-admin-prohibited"]


def test_open_installs_nothing_and_blocks_nothing(tmp_path, probe_bridge) -> None:
    # A PATH whose iptables may do nothing: `open` must start without it.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "iptables").write_text("#!/bin/sh\necho 'Permission denied (you must be root)' >&2\nexit 4\n")
    (fake / "iptables").chmod(0o755)
    path = f"{fake}:{Path(sys.executable).parent}:/usr/bin:/bin"
    with egress_server(tmp_path, FAAS_EGRESS="open", PATH=path) as (server, network), \
            listeners({"gateway": gateway_of(network), **probe_bridge}) as heard:
        assert chains_listing(network) == ""
        result = probe(server, {name: listener.target for name, listener in heard.items()})
        assert_platform_reachable(result)
        assert result["targets"] == dict.fromkeys(heard, "connected:hello")


def test_startup_fails_with_a_hint_when_iptables_is_not_permitted(tmp_path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "iptables").write_text("#!/bin/sh\necho 'iptables v1.8.9 (nf_tables): Could not fetch rule set "
                                   "generation id: Permission denied (you must be root)' >&2\nexit 4\n")
    (fake / "iptables").chmod(0o755)
    server = Server(tmp_path / "data", extra_env={"PATH": f"{fake}:/usr/bin:/bin"})
    with pytest.raises(RuntimeError) as caught:
        server.start(timeout=60)
    assert server.proc is not None and server.proc.returncode == 2
    output = str(caught.value)
    assert "FAAS_EGRESS=public needs to change this host's firewall, but `iptables` is not permitted" in output
    assert "run faas serve as root" in output and "or set FAAS_EGRESS=open" in output
    assert "Traceback" not in output
    assert not (tmp_path / "data" / "faas.db").exists()  # it failed before doing anything
