"""The host firewall for functions' traffic: runs iptables to install and remove the rules `firewall` builds.

Blocking calls (iptables, a file lock); the server runs them in a thread at start and at stop, never on the
invoke path. A lock file serialises faas servers on one host, because each reads the table, merges its
own ports with those of the others and writes the result back in one `iptables-restore` transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from faas.errors import StartupError
from faas.sandbox import firewall
from faas.sandbox.firewall import Chains, Opening, Policy, PolicyConflict

log = logging.getLogger(__name__)

LOCK_PATH = Path("/run/faas-firewall.lock")
RESOLV_CONFS = (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf"))
TIMEOUT_S = 60  # iptables -w waits for the xtables lock, which Docker also takes

HINT = ("or set FAAS_EGRESS=open to run functions without a firewall (they can then reach every port of "
        "this host and 169.254.169.254)")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True


def host_nameservers() -> tuple[str, ...]:
    """The resolvers Docker's embedded DNS forwards to: the host's, or systemd-resolved's upstream ones."""
    found: list[str] = []
    for path in RESOLV_CONFS:
        with contextlib.suppress(OSError):
            found += [ns for ns in firewall.nameservers(path.read_text()) if ns not in found]
    return tuple(found)


class Firewall:
    """The rules of one Docker network, for this server: `install` at start, `remove` at stop."""

    def __init__(self, *, network: str, policy: Policy, owner: int | None = None) -> None:
        self.chains: Chains = firewall.chains_for(network)
        self._network = network
        self._policy = policy
        self._owner = owner if owner is not None else os.getpid()
        self._installed = False

    def check(self) -> None:
        """Fail now, with a hint, when the rules could not be installed later."""
        if self._policy.mode != firewall.OPEN:
            self._run(["iptables", "-w", str(TIMEOUT_S), "-S", "INPUT"])

    def install(self, interface: str, openings: list[tuple[str, int]]) -> None:
        """Apply the policy to traffic from the bridge `interface` and open this server's (address, port)
        pairs to functions; idempotent."""
        mine = [Opening(self._owner, address, port) for address, port in openings]
        try:
            with self._lock():
                table = self._table()
                script = firewall.install_script(table, self.chains, interface=interface,
                                                 policy=self._policy, mine=mine, owner=self._owner,
                                                 alive=pid_alive)
                self._restore(script)
        except PolicyConflict as exc:
            raise StartupError(
                f"the Docker network {self._network!r} is already firewalled with a different FAAS_EGRESS or "
                f"FAAS_EGRESS_ALLOW by the running faas server(s) with pid {', '.join(map(str, exc.owners))}: "
                "servers sharing a network must share its policy; give this one its own FAAS_DOCKER_NETWORK"
            ) from exc
        except StartupError:
            if self._policy.mode != firewall.OPEN:
                raise
            return  # nothing to clear, or nothing this process may clear: `open` needs no firewall
        self._installed = self._policy.mode != firewall.OPEN
        if self._installed:
            log.info("egress %s for network %s: chains %s and %s", self._policy.mode, self._network,
                     self.chains.host, self.chains.egress)

    def remove(self) -> None:
        """Withdraw this server's ports; the chains and their jumps go with the last live server."""
        if not self._installed:
            return
        with self._lock():
            script = firewall.remove_script(self._table(), self.chains, owner=self._owner, alive=pid_alive)
            if script:
                self._restore(script)
        self._installed = False

    def _table(self) -> firewall.Table:
        return firewall.parse(self._run(["iptables", "-w", str(TIMEOUT_S), "-S"]))

    def _restore(self, script: str) -> None:
        if script:
            self._run(["iptables-restore", "-w", str(TIMEOUT_S), "--noflush"], script)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        path = LOCK_PATH if os.access(LOCK_PATH.parent, os.W_OK) else Path("/tmp") / LOCK_PATH.name
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, command: list[str], stdin: str | None = None) -> str:
        # sbin is often missing from PATH (cron, sudo, a user's shell), yet that is where iptables lives.
        binary = shutil.which(command[0], path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if binary is None:
            raise StartupError(f"FAAS_EGRESS={self._policy.mode} keeps functions off this host with iptables, "
                               f"but `{command[0]}` is not installed: install it (`apt-get install -y iptables`) "
                               + HINT)
        try:
            done = subprocess.run([binary, *command[1:]], input=stdin, capture_output=True, text=True,
                                  timeout=TIMEOUT_S + 10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StartupError(f"`{' '.join(command)}` failed ({exc.__class__.__name__}); " + HINT) from exc
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            if "denied" in detail.lower() or "you must be root" in detail.lower():
                raise StartupError(f"FAAS_EGRESS={self._policy.mode} needs to change this host's firewall, "
                                   f"but `{command[0]}` is not permitted ({detail}): run faas serve as root "
                                   "(or with CAP_NET_ADMIN) " + HINT)
            raise StartupError(f"`{' '.join(command)}` failed: {detail}")
        return done.stdout
