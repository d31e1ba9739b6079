"""What functions may reach over the network: the iptables rules of one Docker network, built from the settings.

Everything here is pure: it reads the filter table as `iptables -S` prints it and returns the
`iptables-restore --noflush` script that brings it to the wanted state; `faas.sandbox.iptables` runs it.

Each network gets two chains of its own. `FAAS-HOST-<net>`, jumped to from INPUT for packets coming in on
the network's bridge, guards the host itself: functions reach the platform's ports and nothing else there.
`FAAS-EGRESS-<net>`, jumped to from DOCKER-USER (FORWARD when Docker has no DOCKER-USER), guards what
the host forwards elsewhere. The chains only ever refuse: what they let through returns to the host's own
rules, so faas never opens what the operator's firewall closes. Several faas servers may share a network;
each tags the rules for its own ports with its pid, and the chains go when the last live one stops.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable

OPEN, PUBLIC, NONE = "open", "public", "none"
# What `public` keeps functions out of besides the host: private networks, carrier-grade NAT, and
# link-local, where cloud hosts serve instance metadata and credentials (169.254.169.254).
CLOSED_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
# "No route to host" at once, rather than a connect that hangs until the function's timeout.
REJECT = "-j REJECT --reject-with icmp-admin-prohibited"
ESTABLISHED = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
OWNER_TAG = "faas-pid-"
POLICY_TAG = "faas-policy-"
CHAIN_NAME_MAX = 28  # the kernel's limit for a chain name
HOOK_PARENTS = ("INPUT", "DOCKER-USER", "FORWARD")

_OWNED = re.compile(r"-d (?P<address>[0-9.]+)(?:/32)? -p tcp -m tcp --dport (?P<port>\d+) "
                    r"-m comment --comment \"?" + OWNER_TAG + r"(?P<owner>\d+)\"? -j RETURN$")
_POLICY = re.compile(POLICY_TAG + r"(?P<fingerprint>[0-9a-f]+)")


@dataclasses.dataclass(frozen=True)
class Chains:
    host: str  # hooked from INPUT: traffic from the bridge to the host itself
    egress: str  # hooked from DOCKER-USER or FORWARD: traffic the host forwards elsewhere


def chains_for(network: str) -> Chains:
    """The chain names of a Docker network: its name when it fits the kernel's limit, else a digest of it."""
    suffix = network
    if len("FAAS-EGRESS-") + len(network) > CHAIN_NAME_MAX or not re.fullmatch(r"[A-Za-z0-9_.-]+", network):
        suffix = hashlib.sha256(network.encode()).hexdigest()[:16]
    return Chains(host=f"FAAS-HOST-{suffix}", egress=f"FAAS-EGRESS-{suffix}")


@dataclasses.dataclass(frozen=True)
class Policy:
    mode: str  # public, none or open
    allow: tuple[str, ...] = ()  # CIDRs reachable whatever the mode says
    # Docker's embedded DNS asks the host's resolvers from inside the container, so under `public` they stay
    # reachable on port 53 even when they sit in a private range (as in most clouds).
    nameservers: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """Names the operator's choice in the chain, so servers sharing a network can tell they disagree.
        The resolvers are the host's, not a choice: a server started after they changed updates them."""
        text = "|".join((self.mode, ",".join(self.allow)))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class Opening:
    """A port the platform serves functions on (the Runtime API, the platform endpoint), owned by a server."""

    owner: int  # pid of the faas server listening there
    address: str
    port: int

    @property
    def rule(self) -> str:
        return (f"-d {self.address}/32 -p tcp -m tcp --dport {self.port} "
                f"-m comment --comment {OWNER_TAG}{self.owner} -j RETURN")


class PolicyConflict(Exception):
    """Another live server already applies a different policy to this network."""

    def __init__(self, owners: Iterable[int]) -> None:
        self.owners = tuple(sorted(set(owners)))
        super().__init__(", ".join(map(str, self.owners)))


@dataclasses.dataclass(frozen=True)
class Table:
    """The filter table as `iptables -S` prints it: the chains and each chain's rules in order."""

    chains: frozenset[str]
    rules: dict[str, tuple[str, ...]]

    def of(self, chain: str) -> tuple[str, ...]:
        return self.rules.get(chain, ())


def parse(listing: str) -> Table:
    chains: set[str] = set()
    rules: dict[str, list[str]] = {}
    for line in listing.splitlines():
        parts = line.split(" ", 2)
        if parts[0] in ("-N", "-P") and len(parts) >= 2:
            chains.add(parts[1])
        elif parts[0] == "-A" and len(parts) == 3:
            rules.setdefault(parts[1], []).append(parts[2])
    return Table(frozenset(chains), {chain: tuple(specs) for chain, specs in rules.items()})


def nameservers(resolv_conf: str) -> tuple[str, ...]:
    """The IPv4 resolvers a resolv.conf names, leaving out loopback ones (Docker asks those from the host)."""
    found: list[str] = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                address = ipaddress.ip_address(parts[1])
            except ValueError:
                continue
            if address.version == 4 and not address.is_loopback and str(address) not in found:
                found.append(str(address))
    return tuple(found)


def openings_in(table: Table, chains: Chains) -> tuple[Opening, ...]:
    found = []
    for spec in table.of(chains.host):
        match = _OWNED.search(spec)
        if match:
            found.append(Opening(int(match["owner"]), match["address"], int(match["port"])))
    return tuple(found)


def policy_in(table: Table, chains: Chains) -> str | None:
    for spec in table.of(chains.host):
        match = _POLICY.search(spec)
        if match:
            return match["fingerprint"]
    return None


def host_rules(policy: Policy, openings: Iterable[Opening]) -> list[str]:
    """Functions reach the platform's own ports on the host, the allow-list, and under `public` the DNS
    resolvers; anything else addressed to the host is refused."""
    rules = [ESTABLISHED]
    rules += [opening.rule for opening in openings]
    rules += _dns(policy) + [f"-d {cidr} -j RETURN" for cidr in policy.allow]
    rules.append(f"-m comment --comment {POLICY_TAG}{policy.fingerprint} {REJECT}")
    return rules


def egress_rules(policy: Policy) -> list[str]:
    """Under `public` everything but the closed ranges goes on; under `none` only the allow-list does."""
    rules = [ESTABLISHED] + _dns(policy) + [f"-d {cidr} -j RETURN" for cidr in policy.allow]
    if policy.mode == NONE:
        rules.append(REJECT)
    else:
        rules += [f"-d {cidr} {REJECT}" for cidr in CLOSED_RANGES]
    return rules


def _dns(policy: Policy) -> list[str]:
    if policy.mode != PUBLIC:
        return []  # under `none` not even names: DNS would carry data out as well as any other protocol
    return [f"-d {server}/32 -p {protocol} -m {protocol} --dport 53 -j RETURN"
            for server in policy.nameservers for protocol in ("udp", "tcp")]


def install_script(table: Table, chains: Chains, *, interface: str, policy: Policy, mine: Iterable[Opening],
                   owner: int, alive: Callable[[int], bool]) -> str:
    """The restore script that applies `policy` to the network and opens this server's ports, keeping the
    ports of other live servers on the same network. Under `open` it only clears what dead servers left.

    Raises PolicyConflict when a live server applies a different policy to the same network."""
    others = [o for o in openings_in(table, chains) if o.owner != owner and alive(o.owner)]
    applied = policy_in(table, chains)
    wanted = None if policy.mode == OPEN else policy.fingerprint
    if others and applied != wanted:
        raise PolicyConflict(o.owner for o in others)
    if policy.mode == OPEN:
        return remove_script(table, chains, owner=owner, alive=alive)
    lines = ["*filter", f":{chains.host} - [0:0]", f":{chains.egress} - [0:0]"]
    lines += [f"-A {chains.host} {rule}" for rule in host_rules(policy, [*others, *mine])]
    lines += [f"-A {chains.egress} {rule}" for rule in egress_rules(policy)]
    forward = "DOCKER-USER" if "DOCKER-USER" in table.chains else "FORWARD"
    lines += _hook(table, "INPUT", f"-i {interface} -j {chains.host}", chains.host)
    lines += _hook(table, forward, f"-i {interface} -j {chains.egress}", chains.egress)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _hook(table: Table, parent: str, jump: str, chain: str) -> list[str]:
    """Exactly one jump to `chain`, first in `parent`; stale ones (another bridge, another parent) go."""
    lines: list[str] = []
    kept = False
    for hook_parent in HOOK_PARENTS:
        for spec in table.of(hook_parent):
            if not spec.endswith(f"-j {chain}"):
                continue
            if hook_parent == parent and spec == jump and not kept:
                kept = True
            else:
                lines.append(f"-D {hook_parent} {spec}")
    if not kept:
        lines.append(f"-I {parent} 1 {jump}")
    return lines


def remove_script(table: Table, chains: Chains, *, owner: int, alive: Callable[[int], bool]) -> str:
    """The restore script that withdraws this server's ports; with no other live server on the network it
    removes the jumps and the chains as well. Empty when there is nothing to change."""
    if chains.host not in table.chains and chains.egress not in table.chains:
        return ""
    others = [o for o in openings_in(table, chains) if o.owner != owner and alive(o.owner)]
    lines = ["*filter"]
    if others:
        kept = [spec for spec in table.of(chains.host) if not _owned_by_the_gone(spec, owner, alive)]
        if list(kept) == list(table.of(chains.host)):
            return ""
        lines.append(f":{chains.host} - [0:0]")
        lines += [f"-A {chains.host} {spec}" for spec in kept]
    else:
        for parent in HOOK_PARENTS:
            lines += [f"-D {parent} {spec}" for spec in table.of(parent)
                      if spec.endswith((f"-j {chains.host}", f"-j {chains.egress}"))]
        for chain in (chains.host, chains.egress):
            if chain in table.chains:
                lines += [f"-F {chain}", f"-X {chain}"]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _owned_by_the_gone(spec: str, owner: int, alive: Callable[[int], bool]) -> bool:
    match = _OWNED.search(spec)
    return match is not None and (int(match["owner"]) == owner or not alive(int(match["owner"])))
