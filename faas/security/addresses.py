"""Which addresses the platform itself may send requests to on a user's behalf (SNS http/https deliveries):
an SSRF rule. An address in a denied network is refused unless an allowed network also holds it, so an
operator can open one host (a test's 127.0.0.1) inside a denied range."""

from __future__ import annotations

import dataclasses
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclasses.dataclass(frozen=True)
class AddressRule:
    deny: tuple[str, ...]
    allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_deny", tuple(ipaddress.ip_network(n) for n in self.deny))
        object.__setattr__(self, "_allow", tuple(ipaddress.ip_network(n) for n in self.allow))

    def permits(self, address: str | IPAddress) -> bool:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if any(ip in network for network in self._allow):  # type: ignore[attr-defined]
            return True
        return not any(ip in network for network in self._deny)  # type: ignore[attr-defined]


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally, None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
