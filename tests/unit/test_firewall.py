"""faas.sandbox.firewall: the egress rules of a network, from the settings and the filter table as it stands."""

from __future__ import annotations

import pytest

from faas.sandbox import firewall
from faas.sandbox.firewall import Chains, Opening, Policy, PolicyConflict, chains_for, parse

CHAINS = chains_for("faas")
REJECT = "-j REJECT --reject-with icmp-admin-prohibited"
DOCKER_TABLE = """\
-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -o br-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -j RETURN
"""
MINE = [Opening(100, "172.18.0.1", 4000), Opening(100, "172.18.0.1", 4001)]


def alive(*pids: int):  # type: ignore[no-untyped-def]
    return lambda pid: pid in pids


def lines(script: str, prefix: str) -> list[str]:
    return [line[len(prefix):] for line in script.splitlines() if line.startswith(prefix)]


def apply(table_text: str, script: str) -> str:
    """What `iptables-restore --noflush` does to a table listing, for the commands the scripts use."""
    table = parse(table_text)
    chains = set(table.chains)
    rules = {chain: list(specs) for chain, specs in table.rules.items()}
    for line in script.splitlines():
        if line in ("*filter", "COMMIT"):
            continue
        if line.startswith(":"):
            chain = line[1:].split()[0]
            chains.add(chain)
            rules[chain] = []
            continue
        verb, chain, *rest = line.split(" ", 2)
        if verb == "-A":
            rules.setdefault(chain, []).append(rest[0])
        elif verb == "-I":
            position, spec = rest[0].split(" ", 1)
            rules.setdefault(chain, []).insert(int(position) - 1, spec)
        elif verb == "-D":
            rules[chain].remove(rest[0])  # iptables fails on a rule that is not there; so does this
        elif verb == "-F":
            rules[chain] = []
        elif verb == "-X":
            assert not rules.get(chain), f"{chain} is not empty"
            assert not any(spec.endswith(f"-j {chain}") for specs in rules.values() for spec in specs), chain
            chains.discard(chain)
            rules.pop(chain, None)
        else:
            raise AssertionError(f"unexpected line {line!r}")
    out = [f"-N {chain}" for chain in sorted(chains)]
    out += [f"-A {chain} {spec}" for chain in sorted(rules) for spec in rules[chain]]
    return "\n".join(out) + "\n"


# -- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("network", "host", "egress"), [
    ("faas", "FAAS-HOST-faas", "FAAS-EGRESS-faas"),
    ("fe-0123abcd", "FAAS-HOST-fe-0123abcd", "FAAS-EGRESS-fe-0123abcd"),
    ("a" * 16, "FAAS-HOST-" + "a" * 16, "FAAS-EGRESS-" + "a" * 16),
])
def test_chains_are_named_for_the_network(network, host, egress):
    assert chains_for(network) == Chains(host, egress)


@pytest.mark.parametrize("network", ["a" * 17, "network-with-a-long-name", "odd name"])
def test_long_or_odd_network_names_become_a_digest_within_the_kernels_limit(network):
    chains = chains_for(network)
    assert len(chains.egress) <= firewall.CHAIN_NAME_MAX and " " not in chains.egress
    assert chains.host.startswith("FAAS-HOST-") and chains.host[10:] == chains.egress[12:]
    assert chains_for(network) == chains and chains_for(network + "x") != chains


# -- what each mode lets through ----------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "expected"), [
    (Policy("public"), [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-d 10.0.0.0/8 {REJECT}", f"-d 172.16.0.0/12 {REJECT}", f"-d 192.168.0.0/16 {REJECT}",
        f"-d 100.64.0.0/10 {REJECT}", f"-d 169.254.0.0/16 {REJECT}",
    ]),
    (Policy("public", ("10.1.0.0/16",), ("10.255.255.53",)), [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN",
        "-d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN",
        "-d 10.1.0.0/16 -j RETURN",
        f"-d 10.0.0.0/8 {REJECT}", f"-d 172.16.0.0/12 {REJECT}", f"-d 192.168.0.0/16 {REJECT}",
        f"-d 100.64.0.0/10 {REJECT}", f"-d 169.254.0.0/16 {REJECT}",
    ]),
    (Policy("none"), ["-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN", REJECT]),
    # no DNS under `none`: names would carry data out as well as anything else
    (Policy("none", ("192.168.5.0/24", "10.0.0.7/32"), ("10.255.255.53",)), [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-d 192.168.5.0/24 -j RETURN", "-d 10.0.0.7/32 -j RETURN", REJECT,
    ]),
], ids=["public", "public-allow-dns", "none", "none-allow"])
def test_egress_rules(policy, expected):
    assert firewall.egress_rules(policy) == expected


@pytest.mark.parametrize(("policy", "middle"), [
    (Policy("public"), []),
    (Policy("public", ("10.1.0.0/16",), ("192.168.0.1",)), [
        "-d 192.168.0.1/32 -p udp -m udp --dport 53 -j RETURN",
        "-d 192.168.0.1/32 -p tcp -m tcp --dport 53 -j RETURN",
        "-d 10.1.0.0/16 -j RETURN",
    ]),
    (Policy("none", ("10.1.0.0/16",), ("192.168.0.1",)), ["-d 10.1.0.0/16 -j RETURN"]),
], ids=["public", "public-allow-dns", "none-allow"])
def test_host_rules_open_only_the_platforms_ports_then_refuse(policy, middle):
    rules = firewall.host_rules(policy, MINE)
    assert rules == [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-d 172.18.0.1/32 -p tcp -m tcp --dport 4000 -m comment --comment faas-pid-100 -j RETURN",
        "-d 172.18.0.1/32 -p tcp -m tcp --dport 4001 -m comment --comment faas-pid-100 -j RETURN",
        *middle,
        f"-m comment --comment faas-policy-{policy.fingerprint} {REJECT}",
    ]


def test_fingerprints_tell_the_operators_choices_apart_but_not_the_hosts_resolvers():
    prints = {Policy("public").fingerprint, Policy("none").fingerprint,
              Policy("public", ("10.0.0.0/8",)).fingerprint, Policy("none", ("10.0.0.0/8",)).fingerprint}
    assert len(prints) == 4
    assert Policy("public", ("10.0.0.0/8",)).fingerprint == Policy("public", ("10.0.0.0/8",)).fingerprint
    assert Policy("public", (), ("10.0.0.2",)).fingerprint == Policy("public", (), ("10.0.0.3",)).fingerprint


def test_a_server_started_after_the_resolvers_changed_updates_them_for_the_network():
    _, first = install(DOCKER_TABLE, Policy("public", (), ("10.0.0.2",)), owner=300,
                       mine=[Opening(300, "172.18.0.1", 7000)], live=(300,))
    _, after = install(first, Policy("public", (), ("10.0.0.3",)), live=(100, 300))
    rules = parse(after).of(CHAINS.egress)
    assert "-d 10.0.0.3/32 -p udp -m udp --dport 53 -j RETURN" in rules
    assert not any("10.0.0.2" in rule for rule in rules)


@pytest.mark.parametrize(("text", "expected"), [
    ("nameserver 10.255.255.53\n", ("10.255.255.53",)),
    ("# comment\nsearch example\nnameserver 127.0.0.53\noptions edns0\n", ()),
    ("nameserver 192.168.1.1\nnameserver ::1\nnameserver fd00::1\nnameserver 8.8.8.8\nnameserver 8.8.8.8\n",
     ("192.168.1.1", "8.8.8.8")),
    ("nameserver\nnameserver not-an-address\n", ()),
])
def test_nameservers_are_the_ipv4_non_loopback_ones(text, expected):
    assert firewall.nameservers(text) == expected


# -- installing -------------------------------------------------------------------------------------


def install(table_text: str, policy: Policy, *, owner: int = 100, mine: list[Opening] = MINE,
            live: tuple[int, ...] = (100,), interface: str = "br-0123456789ab") -> tuple[str, str]:
    script = firewall.install_script(parse(table_text), CHAINS, interface=interface, policy=policy, mine=mine,
                                     owner=owner, alive=alive(*live))
    return script, apply(table_text, script)


def test_install_creates_both_chains_and_one_jump_each_first_in_input_and_docker_user():
    script, after = install(DOCKER_TABLE, Policy("public"))
    table = parse(after)
    assert {CHAINS.host, CHAINS.egress} <= table.chains
    assert table.of("INPUT")[0] == f"-i br-0123456789ab -j {CHAINS.host}"
    assert table.of("DOCKER-USER") == (f"-i br-0123456789ab -j {CHAINS.egress}", "-j RETURN")
    assert table.of("FORWARD") == parse(DOCKER_TABLE).of("FORWARD")  # Docker's own rules untouched
    assert list(table.of(CHAINS.host)) == firewall.host_rules(Policy("public"), MINE)
    assert list(table.of(CHAINS.egress)) == firewall.egress_rules(Policy("public"))
    assert script.startswith("*filter\n") and script.endswith("COMMIT\n")


def test_install_hooks_forward_when_docker_has_no_docker_user_chain():
    _, after = install("-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-A FORWARD -j ACCEPT\n", Policy("none"))
    assert parse(after).of("FORWARD") == (f"-i br-0123456789ab -j {CHAINS.egress}", "-j ACCEPT")


def test_install_is_idempotent():
    _, once = install(DOCKER_TABLE, Policy("public"))
    script, twice = install(once, Policy("public"))
    assert twice == once
    assert "-I " not in script and "-D " not in script  # the jumps are there already


def test_install_replaces_jumps_to_an_old_bridge_and_duplicates():
    _, once = install(DOCKER_TABLE, Policy("public"))
    stale = once.replace(f"-A INPUT -i br-0123456789ab -j {CHAINS.host}",
                         f"-A INPUT -i br-old -j {CHAINS.host}\n-A INPUT -i br-old -j {CHAINS.host}\n"
                         f"-A FORWARD -i br-old -j {CHAINS.egress}")
    _, after = install(stale, Policy("public"))
    table = parse(after)
    jumps = [(chain, spec) for chain in ("INPUT", "FORWARD", "DOCKER-USER") for spec in table.of(chain)
             if CHAINS.host in spec or CHAINS.egress in spec]
    assert jumps == [("INPUT", f"-i br-0123456789ab -j {CHAINS.host}"),
                     ("DOCKER-USER", f"-i br-0123456789ab -j {CHAINS.egress}")]


def test_a_second_live_server_on_the_network_keeps_the_first_ones_ports():
    _, first = install(DOCKER_TABLE, Policy("public"))
    theirs = [Opening(200, "172.18.0.1", 5000)]
    _, both = install(first, Policy("public"), owner=200, mine=theirs, live=(100, 200))
    assert set(firewall.openings_in(parse(both), CHAINS)) == {*MINE, *theirs}
    # a restart of the first (same pid, new ports) replaces its own ports only
    moved = [Opening(100, "172.18.0.1", 4100)]
    _, again = install(both, Policy("public"), mine=moved, live=(100, 200))
    assert set(firewall.openings_in(parse(again), CHAINS)) == {*moved, *theirs}


def test_ports_of_dead_servers_are_dropped():
    _, first = install(DOCKER_TABLE, Policy("public"), owner=300, mine=[Opening(300, "172.18.0.1", 7000)],
                       live=(300,))
    _, after = install(first, Policy("public"), live=(100,))  # 300 was killed
    assert set(firewall.openings_in(parse(after), CHAINS)) == set(MINE)


def test_a_different_policy_of_a_live_server_is_a_conflict():
    _, first = install(DOCKER_TABLE, Policy("public"), owner=300, mine=[Opening(300, "172.18.0.1", 7000)],
                       live=(300,))
    for policy in (Policy("none"), Policy("public", ("10.0.0.0/8",)), Policy("open")):
        with pytest.raises(PolicyConflict) as caught:
            install(first, policy, live=(100, 300))
        assert caught.value.owners == (300,)
    _, after = install(first, Policy("none"), live=(100,))  # once 300 is gone, the new policy applies
    assert parse(after).of(CHAINS.egress)[-1] == REJECT


def test_open_adds_nothing_and_clears_what_dead_servers_left():
    script, after = install(DOCKER_TABLE, Policy("open"))
    assert script == "" and after == apply(DOCKER_TABLE, "")
    _, left = install(DOCKER_TABLE, Policy("public"), owner=300, mine=[Opening(300, "172.18.0.1", 7000)],
                      live=(300,))
    _, cleared = install(left, Policy("open"), live=(100,))
    assert "FAAS-" not in cleared


# -- removing ---------------------------------------------------------------------------------------


def test_the_last_server_removes_its_jumps_and_chains_and_nothing_else():
    _, installed = install(DOCKER_TABLE, Policy("public"))
    script = firewall.remove_script(parse(installed), CHAINS, owner=100, alive=alive(100))
    assert apply(installed, script) == apply(DOCKER_TABLE, "")
    assert firewall.remove_script(parse(DOCKER_TABLE), CHAINS, owner=100, alive=alive(100)) == ""


def test_removing_with_another_live_server_withdraws_only_its_own_ports():
    _, first = install(DOCKER_TABLE, Policy("public"))
    theirs = [Opening(200, "172.18.0.1", 5000)]
    _, both = install(first, Policy("public"), owner=200, mine=theirs, live=(100, 200))
    after = apply(both, firewall.remove_script(parse(both), CHAINS, owner=100, alive=alive(100, 200)))
    table = parse(after)
    assert firewall.openings_in(table, CHAINS) == tuple(theirs)
    assert table.of(CHAINS.egress) == parse(both).of(CHAINS.egress)
    assert table.of("INPUT") == parse(both).of("INPUT")
    # and then the other one stops: all gone
    final = apply(after, firewall.remove_script(table, CHAINS, owner=200, alive=alive(200)))
    assert final == apply(DOCKER_TABLE, "")


def test_removal_also_drops_ports_of_dead_servers_and_is_empty_when_nothing_changes():
    _, first = install(DOCKER_TABLE, Policy("public"), owner=300, mine=[Opening(300, "172.18.0.1", 7000)],
                       live=(300,))
    theirs = [Opening(200, "172.18.0.1", 5000)]
    _, both = install(first, Policy("public"), owner=200, mine=theirs, live=(200, 300))
    after = apply(both, firewall.remove_script(parse(both), CHAINS, owner=100, alive=alive(200)))
    assert firewall.openings_in(parse(after), CHAINS) == tuple(theirs)
    assert firewall.remove_script(parse(after), CHAINS, owner=100, alive=alive(200)) == ""


def test_openings_are_read_back_from_iptables_listing_with_quoted_comments():
    table = parse(f'-N {CHAINS.host}\n-A {CHAINS.host} -d 172.18.0.1/32 -p tcp -m tcp --dport 4000 '
                  f'-m comment --comment "faas-pid-7" -j RETURN\n')
    assert firewall.openings_in(table, CHAINS) == (Opening(7, "172.18.0.1", 4000),)
