"""faas.sandbox.iptables: start-up errors an operator can act on when iptables is missing or not permitted."""

from __future__ import annotations

import os
import stat

import pytest

from faas.errors import StartupError
from faas.sandbox import iptables
from faas.sandbox.firewall import Policy
from faas.sandbox.iptables import Firewall

DENIED = "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)"


def fake_binary(directory, name: str, script: str) -> None:  # type: ignore[no-untyped-def]
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_missing_iptables_is_a_startup_error_with_a_hint(monkeypatch):
    monkeypatch.setattr(iptables.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(StartupError) as caught:
        Firewall(network="faas", policy=Policy("public")).check()
    message = str(caught.value)
    assert "`iptables` is not installed" in message
    assert "apt-get install -y iptables" in message and "FAAS_EGRESS=open" in message


def test_iptables_without_permission_is_a_startup_error_with_a_hint(tmp_path, monkeypatch):
    fake_binary(tmp_path, "iptables", f"echo '{DENIED}' >&2; exit 4")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(StartupError) as caught:
        Firewall(network="faas", policy=Policy("none")).check()
    message = str(caught.value)
    assert "FAAS_EGRESS=none needs to change this host's firewall" in message
    assert "run faas serve as root" in message and "FAAS_EGRESS=open" in message


def test_other_iptables_failures_show_the_last_line_of_its_output(tmp_path, monkeypatch):
    fake_binary(tmp_path, "iptables",
                "echo 'warming up' >&2; echo 'iptables: No chain/target/match by that name.' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(StartupError, match="No chain/target/match by that name"):
        Firewall(network="faas", policy=Policy("public")).check()


def test_open_needs_no_iptables_at_all(tmp_path, monkeypatch):
    fake_binary(tmp_path, "iptables", f"echo '{DENIED}' >&2; exit 4")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(iptables, "LOCK_PATH", tmp_path / "faas-firewall.lock")
    firewall = Firewall(network="faas", policy=Policy("open"))
    firewall.check()
    firewall.install("br-0123456789ab", [("172.18.0.1", 4000)])  # only clears leftovers, when it may
    firewall.remove()
