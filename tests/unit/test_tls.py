"""HTTPS on the server side (faas.server): the certificate loaded at start, and when plain HTTP warrants a warning."""

from __future__ import annotations

import ssl

import pytest

from faas import settings
from faas.errors import StartupError
from faas.server import is_loopback, tls_context
from tests.support.tls import self_signed


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LocalHost", True), ("0.0.0.0", False), ("", False), ("::", False), ("10.0.0.5", False),
    ("172.17.0.1", False), ("faas.example.com", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_no_certificate_is_plain_http():
    assert tls_context(settings.load({})) is None


def test_a_certificate_and_its_key_make_a_tls_1_2_context(tmp_path):
    cert, key = self_signed(tmp_path)
    context = tls_context(settings.load({}, tls_cert=str(cert), tls_key=str(key)))
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_missing_or_mismatched_key_is_a_start_up_error(tmp_path):
    cert, key = self_signed(tmp_path / "one")
    _, other_key = self_signed(tmp_path / "two")
    for bad_key in (tmp_path / "missing.pem", other_key, cert):
        with pytest.raises(StartupError, match="cannot load the TLS certificate .* with the key"):
            tls_context(settings.load({}, tls_cert=str(cert), tls_key=str(bad_key)))
