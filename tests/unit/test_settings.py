"""faas.settings: defaults, parsing FAAS_* variables, overrides, database URLs, and that every setting is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from faas import settings
from faas.errors import ConfigError
from faas.settings import SETTINGS, Settings, load, normalise_database_url

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# -- defaults -------------------------------------------------------------------------------------


def test_defaults_without_any_variable(home):
    loaded = load({})
    assert loaded.host == "127.0.0.1"
    assert loaded.port == 9000
    assert loaded.data_dir == (home / ".local/share/faas").resolve()
    assert loaded.database_url == ""
    assert loaded.region == "us-east-1"
    assert loaded.account_id == "000000000000"
    assert loaded.docker_network == "faas"
    assert loaded.image_prefix == "faas"
    assert loaded.keep_alive_s == 600
    assert loaded.runtime_api_port == 0
    assert loaded.shutdown_grace_s == 30
    assert loaded.build_images is True
    assert loaded.log_level == "info"


def test_every_declared_setting_is_a_field_of_settings_and_the_other_way_round():
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]


def test_env_names_are_faas_prefixed_upper_case_and_unique():
    names = [s.env for s in SETTINGS]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"FAAS_[A-Z0-9_]+", name), name
    assert settings._BY_NAME["keep_alive_s"].env == "FAAS_KEEP_ALIVE_S"
    assert settings._BY_NAME["data_dir"].option == "--data-dir"


# -- parsing the environment -----------------------------------------------------------------------


def test_env_values_are_parsed_to_their_types(tmp_path):
    loaded = load({
        "FAAS_HOST": "0.0.0.0",
        "FAAS_PORT": "8080",
        "FAAS_DATA_DIR": str(tmp_path / "data"),
        "FAAS_KEEP_ALIVE_S": "5",
        "FAAS_REGION": "eu-west-1",
        "FAAS_ACCOUNT_ID": "123456789012",
        "FAAS_LOG_LEVEL": "debug",
    })
    assert loaded.host == "0.0.0.0"
    assert loaded.port == 8080 and isinstance(loaded.port, int)
    assert loaded.data_dir == (tmp_path / "data").resolve()
    assert loaded.keep_alive_s == 5
    assert loaded.region == "eu-west-1"
    assert loaded.function_arn("fn") == "arn:aws:lambda:eu-west-1:123456789012:function:fn"
    assert loaded.log_level == "debug"


def test_tls_certificate_and_key_go_together(home):
    assert load({}).scheme == "http"
    loaded = load({"FAAS_TLS_CERT": "~/cert.pem"}, tls_key="key.pem")
    assert loaded.scheme == "https"
    assert loaded.tls_cert == str(home / "cert.pem")
    assert Path(loaded.tls_key).is_absolute() and loaded.tls_key.endswith("key.pem")
    for one in ({"FAAS_TLS_CERT": "cert.pem"}, {"FAAS_TLS_KEY": "key.pem"}):
        with pytest.raises(ConfigError, match="FAAS_TLS_CERT .*FAAS_TLS_KEY .*go together"):
            load(one)


def test_variables_without_the_prefix_are_ignored():
    assert load({"PORT": "1234", "faas_port": "1234"}).port == 9000


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "on", " True "])
def test_true_bools(text):
    assert load({"FAAS_BUILD_IMAGES": text}).build_images is True


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "off", ""])
def test_false_bools(text):
    assert load({"FAAS_BUILD_IMAGES": text}).build_images is False


def test_a_bad_bool_names_the_variable():
    with pytest.raises(ConfigError) as caught:
        load({"FAAS_BUILD_IMAGES": "maybe"})
    assert "FAAS_BUILD_IMAGES" in str(caught.value)
    assert "maybe" in str(caught.value)


@pytest.mark.parametrize("variable", ["FAAS_PORT", "FAAS_KEEP_ALIVE_S", "FAAS_SHUTDOWN_GRACE_S",
                                      "FAAS_RUNTIME_API_PORT"])
@pytest.mark.parametrize("text", ["eighty", "1.5", "-1", ""])
def test_a_bad_int_names_the_variable(variable, text):
    with pytest.raises(ConfigError) as caught:
        load({variable: text})
    assert variable in str(caught.value)


def test_retention_is_in_days_with_fractions_and_zero_keeps_forever():
    assert (load({}).invocation_retention_days, load({}).audit_retention_days) == (30.0, 90.0)
    loaded = load({"FAAS_INVOCATION_RETENTION_DAYS": "0.5", "FAAS_AUDIT_RETENTION_DAYS": "0"})
    assert (loaded.invocation_retention_days, loaded.audit_retention_days) == (0.5, 0.0)


@pytest.mark.parametrize("variable", ["FAAS_INVOCATION_RETENTION_DAYS", "FAAS_AUDIT_RETENTION_DAYS"])
@pytest.mark.parametrize("text", ["a month", "-1", "nan", "inf", ""])
def test_a_bad_retention_names_the_variable(variable, text):
    with pytest.raises(ConfigError, match=variable):
        load({variable: text})


def test_bad_log_level_and_account_id_are_refused():
    with pytest.raises(ConfigError, match="FAAS_LOG_LEVEL"):
        load({"FAAS_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match="FAAS_LOG_FORMAT='xml' is not one of text, json"):
        load({"FAAS_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="FAAS_ACCOUNT_ID"):
        load({"FAAS_ACCOUNT_ID": "1234"})
    with pytest.raises(ConfigError, match="FAAS_ACCOUNT_ID"):
        load({"FAAS_ACCOUNT_ID": "12345678901a"})


def test_image_repositories_and_sandbox_dir(home):
    defaults = load({})
    assert defaults.image_repositories == ("faas/",)
    assert defaults.sandbox_dir == Path("/var/lib/faas-sandbox")
    loaded = load({"FAAS_IMAGE_REPOSITORIES": " faas/, team-a/ ,,", "FAAS_SANDBOX_DIR": "~/sandbox"})
    assert loaded.image_repositories == ("faas/", "team-a/")
    assert loaded.sandbox_dir == (home / "sandbox").resolve()
    assert load({"FAAS_IMAGE_REPOSITORIES": ""}).image_repositories == ()  # no image at all


def test_data_dir_expands_the_home_directory(home):
    assert load({"FAAS_DATA_DIR": "~/faas-data"}).data_dir == (home / "faas-data").resolve()


# -- overrides ------------------------------------------------------------------------------------


def test_overrides_win_over_the_environment():
    loaded = load({"FAAS_PORT": "8080", "FAAS_HOST": "0.0.0.0"}, port=7000, host="10.0.0.1")
    assert loaded.port == 7000
    assert loaded.host == "10.0.0.1"


def test_string_overrides_are_parsed_like_the_environment():
    assert load({"FAAS_PORT": "8080"}, port="7001").port == 7001
    with pytest.raises(ConfigError, match="FAAS_PORT"):
        load({}, port="seven")


def test_a_none_override_falls_back_to_the_environment():
    # The CLI passes every option, None when it was not given.
    assert load({"FAAS_PORT": "8080"}, port=None).port == 8080


def test_unknown_overrides_are_refused():
    with pytest.raises(ConfigError, match="colour"):
        load({}, colour="blue")


# -- database URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [
    ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
    ("sqlite:////var/lib/faas/faas.db", "sqlite+aiosqlite:////var/lib/faas/faas.db"),
    ("postgresql://u:p@db:5432/faas", "postgresql+asyncpg://u:p@db:5432/faas"),
    ("postgres://u:p@db/faas", "postgresql+asyncpg://u:p@db/faas"),
    ("postgresql+asyncpg://u@db/faas", "postgresql+asyncpg://u@db/faas"),
    ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
])
def test_normalise_database_url(given, expected):
    assert normalise_database_url(given) == expected


def test_effective_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path):
    loaded = load({"FAAS_DATA_DIR": str(tmp_path)})
    assert loaded.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/faas.db"
    assert loaded.credentials_path == tmp_path.resolve() / "credentials"


def test_effective_database_url_uses_and_normalises_the_given_url():
    loaded = load({"FAAS_DATABASE_URL": "postgres://faas:pw@db/faas"})
    assert loaded.effective_database_url == "postgresql+asyncpg://faas:pw@db/faas"


# -- documentation --------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_has_help(setting):
    assert setting.help.strip(), f"{setting.name} has no help text"


def test_every_setting_is_documented_in_the_readme():
    assert README.is_file(), (
        f"{README} does not exist: document every FAAS_* setting there "
        f"({', '.join(s.env for s in SETTINGS)})"
    )
    text = README.read_text(encoding="utf-8")
    missing = [s.env for s in SETTINGS if not re.search(rf"\b{s.env}\b", text)]
    assert not missing, f"README.md does not mention {', '.join(missing)}"


# -- egress -----------------------------------------------------------------------------------------


def test_egress_defaults_to_public_with_nothing_extra_allowed():
    loaded = load({})
    assert loaded.egress == "public"
    assert loaded.egress_allow == ()


@pytest.mark.parametrize(("text", "mode"), [("public", "public"), ("NONE", "none"), (" open ", "open")])
def test_egress_modes(text, mode):
    assert load({"FAAS_EGRESS": text}).egress == mode


def test_an_unknown_egress_mode_names_the_variable_and_the_choices():
    with pytest.raises(ConfigError, match="FAAS_EGRESS=.*public, none, open"):
        load({"FAAS_EGRESS": "closed"})


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.5.0/24", ("10.0.5.0/24",)),
    (" 10.0.5.0/24 , 192.168.1.7/32,", ("10.0.5.0/24", "192.168.1.7/32")),
    ("192.168.1.7", ("192.168.1.7/32",)),
    ("", ()),
])
def test_egress_allow_is_a_list_of_ipv4_networks(text, expected):
    assert load({"FAAS_EGRESS_ALLOW": text}).egress_allow == expected


@pytest.mark.parametrize("text", ["10.0.5.1/24", "fd00::/8", "database", "10.0.0.0/33"])
def test_a_bad_egress_allow_entry_names_the_variable(text):
    with pytest.raises(ConfigError, match="FAAS_EGRESS_ALLOW"):
        load({"FAAS_EGRESS_ALLOW": text})


def test_egress_allow_with_open_is_refused_as_meaningless():
    with pytest.raises(ConfigError, match="FAAS_EGRESS_ALLOW has no effect with FAAS_EGRESS=open"):
        load({"FAAS_EGRESS": "open", "FAAS_EGRESS_ALLOW": "10.0.0.0/8"})


@pytest.mark.parametrize("text, expected", [
    ("", ()),
    ("127.0.0.5/32", ("127.0.0.5/32",)),
    (" 10.0.0.0/8 , 127.0.0.5 ,fd00::/8", ("10.0.0.0/8", "127.0.0.5/32", "fd00::/8")),
])
def test_trusted_proxies_are_ipv4_or_ipv6_networks_and_none_by_default(text, expected):
    assert load({}).trusted_proxies == ()
    assert load({"FAAS_TRUSTED_PROXIES": text}).trusted_proxies == expected


@pytest.mark.parametrize("text", ["10.0.0.5/8", "proxy.example", "10.0.0.0/33"])
def test_a_bad_trusted_proxy_names_the_variable(text):
    with pytest.raises(ConfigError, match="FAAS_TRUSTED_PROXIES"):
        load({"FAAS_TRUSTED_PROXIES": text})
