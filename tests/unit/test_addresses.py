"""The SSRF rule for the platform's own HTTP requests (faas.security.addresses)."""

from __future__ import annotations

import pytest

from faas.security.addresses import AddressRule, literal_address
from faas.settings import load

DEFAULT = AddressRule(load({}).topic_http_deny, load({}).topic_http_allow)


@pytest.mark.parametrize(("address", "permitted"), [
    ("169.254.169.254", False), ("169.254.0.1", False), ("127.0.0.1", False), ("127.1.2.3", False),
    ("::1", False), ("fe80::1", False), ("fd00:ec2::254", False), ("0.0.0.0", False),
    ("::ffff:169.254.169.254", False), ("::ffff:127.0.0.1", False),
    ("93.184.216.34", True), ("10.0.0.5", True), ("2001:db8::1", True),
])
def test_by_default_this_host_link_local_and_metadata_are_denied(address, permitted):
    assert DEFAULT.permits(address) is permitted


def test_an_allowed_network_opens_a_host_inside_a_denied_one():
    rule = AddressRule(deny=("127.0.0.0/8", "10.0.0.0/8"), allow=("127.0.0.1/32",))
    assert rule.permits("127.0.0.1") and not rule.permits("127.0.0.2") and not rule.permits("10.1.1.1")


def test_literal_addresses_are_told_from_names():
    assert str(literal_address("[::1]")) == "::1" and str(literal_address("10.0.0.1")) == "10.0.0.1"
    assert literal_address("example.com") is None
