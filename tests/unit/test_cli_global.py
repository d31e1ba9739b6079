"""What every `faas` verb shares: where the endpoint, credentials and region come from, the ls/get/rm
names and their aliases, --version, the completion script, and the ready line's export."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

from faas import cli, server, settings
from faas.cli import common, completion
from faas.client import discovery

CREDENTIALS = "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = sdef\n" \
              "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = sdev\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("FAAS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "credentials").write_text(CREDENTIALS)
    (tmp_path / "endpoint").write_text("http://127.0.0.1:9555\n")
    return tmp_path


# --- discovery: option > environment > data dir's files > default -------------------------------

def test_endpoint_option_then_faas_then_aws_variable_then_the_data_dir_file(data_dir: Path) -> None:
    env = {"AWS_ENDPOINT_URL": "http://aws:1/"}
    assert discovery.discover_endpoint(data_dir, env) == ("http://aws:1", "AWS_ENDPOINT_URL")
    assert discovery.discover_endpoint(data_dir, {**env, "FAAS_ENDPOINT_URL": "http://faas:2"}) == (
        "http://faas:2", "FAAS_ENDPOINT_URL")
    assert discovery.discover_endpoint(data_dir, env, "http://opt:3")[0] == "http://opt:3"
    assert discovery.discover_endpoint(data_dir, {"AWS_ENDPOINT_URL": " "}) == (
        "http://127.0.0.1:9555", str(data_dir / "endpoint"))


@pytest.mark.parametrize("env,profile,expected", [
    ({}, None, ("AKIDDEF", "profile default in {file}")),
    ({"AWS_PROFILE": "dev"}, None, ("AKIDDEV", "profile dev in {file}")),
    ({"AWS_PROFILE": "dev"}, "default", ("AKIDDEF", "profile default in {file}")),
    # As the AWS CLI: keys in the environment win over AWS_PROFILE, an explicit --profile over both.
    ({"AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"}, None,
     ("AKIDENV", "AWS_ACCESS_KEY_ID from the environment")),
    ({"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"}, "dev", ("AKIDDEV", "profile dev in {file}")),
])
def test_credentials_and_where_they_came_from(data_dir: Path, env, profile, expected) -> None:
    credentials, source = discovery.discover_credentials(data_dir, env, profile)
    assert (credentials.access_key_id, source) == (expected[0], expected[1].format(file=data_dir / "credentials"))


def test_a_missing_profile_names_the_file_and_what_chose_the_profile(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(common.ConfigError) as raised:
        discovery.discover_credentials(data_dir, {"AWS_PROFILE": "prod"})
    assert str(raised.value) == (f"profile 'prod' (AWS_PROFILE) is not in {data_dir / 'credentials'} "
                                 "(profiles: default, dev)")
    shared = tmp_path / "shared"
    shared.write_text("[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = sci\n")
    with pytest.raises(common.ConfigError, match=f"profile 'dev' \\(--profile\\) is not in {shared} "):
        discovery.discover_credentials(data_dir, {"AWS_SHARED_CREDENTIALS_FILE": str(shared)}, "dev")


def test_signing_region_option_then_aws_region_then_aws_default_region_then_faas_region() -> None:
    assert discovery.signing_region({}, None, "us-east-1") == "us-east-1"
    assert discovery.signing_region({"AWS_DEFAULT_REGION": "eu-west-1"}, None, "us-east-1") == "eu-west-1"
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "ap-south-1"}
    assert discovery.signing_region(env, None, "us-east-1") == "ap-south-1"
    assert discovery.signing_region(env, "sa-east-1", "us-east-1") == "sa-east-1"


def test_every_client_verb_has_the_same_connection_options_and_output() -> None:
    connection = {"--endpoint-url", "--data-dir", "--ca-bundle", "--region", "-o", "--output"}
    clients = [c for c in completion.commands(cli.build_parser()) if "--endpoint-url" in c.options]
    assert len(clients) > 60
    for command in clients:
        assert connection <= set(command.options), command.paths[0]
        # keys create's --profile names the profile it writes; it connects by AWS_PROFILE or 'default'
        assert "--profile" in command.options, command.paths[0]
    # Every verb that prints a result takes -o; serve prints a log and completion a script.
    leaves = [c.paths[0] for c in completion.commands(cli.build_parser()) if not c.verbs and "-o" not in c.options]
    assert leaves == [" serve", " completion"]


def test_client_for_reads_aws_profile_and_aws_region(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    args = cli.build_parser().parse_args(["queues", "ls", "--data-dir", str(data_dir)])
    client = common.client_for(args)
    assert (client.endpoint_url, client.credentials.access_key_id, client.region) == (
        "http://127.0.0.1:9555", "AKIDDEV", "eu-central-1")
    assert client.credentials_source == f"profile dev in {data_dir / 'credentials'}"


# --- names, aliases, -o ------------------------------------------------------------------------

def test_no_group_names_its_verbs_list_show_delete_or_remove_and_those_names_still_work() -> None:
    tree = {command.paths[0]: command for command in completion.commands(cli.build_parser())}
    for path, command in tree.items():
        assert not set(command.verbs) & {"list", "show", "delete", "remove"}, path
        for verb in set(command.verbs) & set(common.VERB_ALIASES):
            assert {f"{path} {alias}" for alias in common.VERB_ALIASES[verb]} <= set(tree[f"{path} {verb}"].paths)


@pytest.mark.parametrize("argv,run", [
    (["permissions", "show", "fn"], "cmd_permissions_get"), (["permissions", "get", "fn"], "cmd_permissions_get"),
    (["url", "delete", "fn"], "cmd_url_delete"), (["queues", "list"], "cmd_ls"), (["roles", "delete", "r"], "cmd_roles_rm"),
    (["token", "rm", "tok-1"], "cmd_token_revoke"),
])
def test_old_verb_names_are_aliases(argv, run) -> None:
    assert cli.build_parser().parse_args(argv).run.__name__ == run


def test_usage_takes_json_and_csv_as_options_or_as_output_choices() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["usage", "--csv"]).output == "csv"
    assert parser.parse_args(["usage", "--json"]).output == "json"
    assert parser.parse_args(["usage", "-o", "csv"]).output == "csv"
    with pytest.raises(SystemExit):
        parser.parse_args(["queues", "ls", "-o", "csv"])  # csv is usage's own choice


def test_build_writes_where_zip_says_and_o_is_the_output_format() -> None:
    args = cli.build_parser().parse_args(["build", "fn", "--zip", "out.zip", "-o", "json"])
    assert (args.zip, args.output) == ("out.zip", "json")


# --- --version, completion, the ready line -----------------------------------------------------

def test_version_is_the_installed_one_else_the_package_attribute(monkeypatch, capsys) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"faas {cli.version()}\n"

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert cli.version() == cli.faas.__version__


def test_completion_tree_knows_verbs_aliases_options_and_choices() -> None:
    tree = {command.paths[0]: command for command in completion.commands(cli.build_parser())}
    assert {"deploy", "queues", "completion"} <= set(tree[""].verbs)
    url = tree[" url"]
    assert url.verbs == ("create", "get", "rm")  # canonical names only
    assert tree[" url rm"].paths == (" url rm", " url delete", " url remove")
    assert "--runtime" in tree[" deploy"].options
    assert tree[" queues ls"].choices["-o"] == ("text", "json")


def test_zsh_script_is_the_bash_function_through_bashcompinit() -> None:
    parser = cli.build_parser()
    script = completion.zsh_script(parser)
    assert "bashcompinit" in script and "complete -o default -F _faas_complete faas" in script
    assert script.split("\n", 3)[3] == completion.bash_script(parser).split("\n", 1)[1]


def test_ready_line_exports_a_data_dir_that_is_not_the_default(tmp_path: Path) -> None:
    custom = settings.load({"FAAS_DATA_DIR": str(tmp_path / "my data")})
    assert server.ready_line(custom, "http://127.0.0.1:1").endswith(
        f"; for the faas CLI: export FAAS_DATA_DIR='{tmp_path / 'my data'}'")
    assert "FAAS_DATA_DIR" not in server.ready_line(settings.load({}), "http://127.0.0.1:1")


def test_a_reader_that_stops_reading_is_no_error(tmp_path) -> None:
    """`faas ... | head -n 1`: the rest of the output goes nowhere, with no traceback and exit status 0."""
    import subprocess
    import sys
    script = ("import sys\nfrom faas.cli import main\nimport faas.cli.functions as f\n"
              "def run(args):\n    for _ in range(100000):\n        print('line')\n    return 0\n"
              "f.cmd_ls = run\nsys.exit(main(['ls']))\n")  # a verb with more output than a pipe holds
    result = subprocess.run(f"{sys.executable} -c \"{script}\" | head -n 1", shell=True, capture_output=True,
                            text=True, timeout=60, executable="/bin/bash")
    assert result.stdout == "line\n" and "Traceback" not in result.stderr, result.stderr
