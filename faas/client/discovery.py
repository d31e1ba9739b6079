"""Where the faas client finds the platform and its credentials: the endpoint URL, how HTTPS is
verified, the AWS shared-credentials profile to sign with, and the region to sign for.

Every client verb finds each the same way, the AWS CLI's way: an option, else an environment variable,
else a file in the data dir (FAAS_DATA_DIR) that `faas serve` writes, else a default."""

from __future__ import annotations

import configparser
import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from faas import settings as settings_module
from faas.errors import ConfigError
from faas.security import sigv4

ENDPOINT_ENV = "FAAS_ENDPOINT_URL"
AWS_ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # as the AWS CLI and SDKs read it; FAAS_ENDPOINT_URL is the more specific
CREDENTIALS_FILE_ENV = "AWS_SHARED_CREDENTIALS_FILE"
PROFILE_ENV = "AWS_PROFILE"
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")  # the SDKs' order
CA_BUNDLE_ENV = "AWS_CA_BUNDLE"  # as the AWS CLI and SDKs read it
DEFAULT_PROFILE = "default"


def discover_endpoint(data_dir: Path, env: Mapping[str, str], explicit: str | None = None,
                      fallback: str | None = None) -> tuple[str, str]:
    """(endpoint URL, where it came from): the option, FAAS_ENDPOINT_URL, AWS_ENDPOINT_URL,
    `<data-dir>/endpoint`, fallback."""
    if explicit:
        return explicit.rstrip("/"), "--endpoint-url"
    for name in (ENDPOINT_ENV, AWS_ENDPOINT_ENV):
        if env.get(name, "").strip():
            return env[name].strip().rstrip("/"), name
    path = data_dir / "endpoint"
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if lines:
        return lines[0].rstrip("/"), str(path)
    if fallback:
        return fallback, f"FAAS_HOST/FAAS_PORT ({path} does not exist)"
    raise ConfigError(f"no endpoint: pass --endpoint-url, set {ENDPOINT_ENV} or start 'faas serve' "
                      f"(it writes {path})")


def default_endpoint(config: settings_module.Settings) -> str:
    """Where a server started with these settings listens, as a client on this machine reaches it."""
    host = config.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # a wildcard address is no place to connect to
    elif ":" in host:
        host = f"[{host}]"
    return f"{config.scheme}://{host}:{config.port}"


def tls_context(env: Mapping[str, str], explicit: str | None = None) -> ssl.SSLContext:
    """How HTTPS endpoints are verified: against the CA bundle given (the option, else AWS_CA_BUNDLE), which
    replaces the system's CAs as it does for the AWS CLI; else against the system's CAs."""
    path = explicit or env.get(CA_BUNDLE_ENV) or None
    try:
        return ssl.create_default_context(cafile=os.path.expanduser(path) if path else None)
    except (OSError, ssl.SSLError) as exc:
        source = "--ca-bundle" if explicit else CA_BUNDLE_ENV
        raise ConfigError(f"cannot read the CA bundle {path} ({source}): "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc


def signing_region(env: Mapping[str, str], explicit: str | None, configured: str) -> str:
    """The region requests are signed for: the option, AWS_REGION, AWS_DEFAULT_REGION, else FAAS_REGION's."""
    return explicit or next((env[name].strip() for name in REGION_ENVS if env.get(name, "").strip()), configured)


def read_shared_credentials(path: Path, profile: str, chosen_by: str = "") -> sigv4.Credentials | None:
    """A profile of an AWS shared-credentials file; None when the file does not exist. `chosen_by` says
    where the profile's name came from, for the error when the file lacks it."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"cannot read credentials from {path}: {exc}") from exc
    if not parser.has_section(profile):
        known = ", ".join(parser.sections()) or "none"
        raise ConfigError(f"profile {profile!r}{f' ({chosen_by})' if chosen_by else ''} is not in {path} "
                          f"(profiles: {known})")
    section = parser[profile]
    key_id = section.get("aws_access_key_id", "").strip()
    secret = section.get("aws_secret_access_key", "").strip()
    if not key_id or not secret:
        raise ConfigError(f"profile {profile!r} in {path} lacks aws_access_key_id or aws_secret_access_key")
    return sigv4.Credentials(key_id, secret, section.get("aws_session_token", "").strip() or None)


def credentials_file(data_dir: Path, env: Mapping[str, str]) -> Path:
    """The shared-credentials file the client reads: AWS_SHARED_CREDENTIALS_FILE, as the AWS SDKs
    do, else `<data-dir>/credentials`, which `faas serve` writes for the admin."""
    if env.get(CREDENTIALS_FILE_ENV):
        return Path(os.path.expanduser(env[CREDENTIALS_FILE_ENV]))
    return data_dir / "credentials"


def discover_credentials(data_dir: Path, env: Mapping[str, str],
                         profile: str | None = None) -> tuple[sigv4.Credentials, str]:
    """(credentials, where they came from), in the AWS CLI's order: the --profile given, else
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the profile AWS_PROFILE names, else 'default'; a profile
    is read from credentials_file()."""
    if profile is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return (sigv4.Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                  env.get("AWS_SESSION_TOKEN") or None), "AWS_ACCESS_KEY_ID from the environment")
    if profile is not None:
        chosen_by = "--profile"
    elif env.get(PROFILE_ENV):
        profile, chosen_by = env[PROFILE_ENV], PROFILE_ENV
    else:
        profile, chosen_by = DEFAULT_PROFILE, ""
    path = credentials_file(data_dir, env)
    credentials = read_shared_credentials(path, profile, chosen_by)
    if credentials is None:
        if env.get(CREDENTIALS_FILE_ENV):
            raise ConfigError(f"no credentials: {path} ({CREDENTIALS_FILE_ENV}) does not exist")
        raise ConfigError(f"no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or start "
                          f"'faas serve' once with this data dir (it writes {path})")
    return credentials, f"profile {profile} in {path}"
