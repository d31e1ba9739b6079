"""Every setting of the platform, declared once: name, environment variable, default and help."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from faas.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    flag: bool = False  # also offered as a `faas serve --<name>` option

    @property
    def env(self) -> str:
        return "FAAS_" + self.name.upper()

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _days(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise ValueError("must be a number of days, 0 or more")
    return value


def _step_ms(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be 1 (ms) or more")
    return value


def _amount(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise ValueError("must be a number, 0 or more")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _prefixes(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


EGRESS_MODES = ("public", "none", "open")


def _egress(text: str) -> str:
    mode = text.strip().lower()
    if mode not in EGRESS_MODES:
        raise ValueError("expected one of " + ", ".join(EGRESS_MODES))
    return mode


def _cidrs(text: str) -> tuple[str, ...]:
    """IPv4 networks, comma-separated: the Docker network functions use is IPv4 only."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        network = ipaddress.ip_network(part)  # strict: a CIDR with host bits set is likely a typo
        if network.version != 4:
            raise ValueError(f"{part} is not IPv4 (the functions' network is IPv4 only)")
        networks.append(str(network))
    return tuple(networks)


def _networks(text: str) -> tuple[str, ...]:
    """IPv4 or IPv6 networks, comma-separated; a bare address is one host."""
    return tuple(str(ipaddress.ip_network(part.strip())) for part in text.split(",") if part.strip())


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", "address the API listens on", flag=True),
    Setting("port", 9000, "port the API listens on", _positive_int, flag=True),
    Setting("data_dir", "~/.local/share/faas", "where the database, keys and credentials live",
            flag=True),
    Setting("database_url", "", "SQLAlchemy URL of the store (default: SQLite at <data-dir>/faas.db); "
            "postgresql://... selects PostgreSQL", flag=True),
    Setting("tls_cert", "", "PEM certificate (with its chain) to serve the API and function URLs over HTTPS "
            "(empty: plain HTTP); needs --tls-key", flag=True),
    Setting("tls_key", "", "PEM private key of the --tls-cert certificate", flag=True),
    Setting("region", "us-east-1", "region shown in ARNs and AWS_REGION"),
    Setting("account_id", "000000000000", "12-digit account id shown in ARNs"),
    Setting("docker_network", "faas", "Docker bridge network the execution environments join"),
    Setting("image_prefix", "faas", "name prefix of the runtime images built locally"),
    Setting("image_repositories", ("faas/",), "comma-separated repository prefixes that image functions "
            "(PackageType Image) may use; anything else is refused", _prefixes),
    Setting("sandbox_dir", "/var/lib/faas-sandbox", "where unpacked code and each environment's /var/task "
            "live (per node); keep it outside the data dir: functions see this path in /proc/self/mountinfo"),
    Setting("keep_alive_s", 600, "seconds an idle warm environment lives before it is stopped",
            _positive_int),
    Setting("max_concurrency", 1000, "invocations this node runs at once, over all functions (429 beyond)",
            _positive_int),
    Setting("prewarm_per_runtime", 2, "generic environments kept running per runtime to cut cold starts (0: none); "
            "the pool grows past this while bursts of cold starts ask for more", _positive_int),
    Setting("prewarm_memory_mb", 4096, "memory the prewarmed pool may hold, counted at each environment's limit "
            "(128 MB unless bursts asked for a larger size); 0 keeps it at prewarm_per_runtime", _positive_int),
    Setting("parallel_starts", 0, "containers started at once (more wait in a queue, requests' before the "
            "prewarmed pool's); 0: one per CPU core, about where the engine's start throughput stops growing",
            _positive_int),
    Setting("credentials_ttl_s", 3600, "lifetime of the role credentials each environment receives; an "
            "environment is replaced once half of it has passed", _positive_int),
    Setting("token_max_ttl_s", 7 * 86400, "the longest lifetime a bearer token may be given (and has: lowering "
            "it shortens the tokens already out); at least 60", _positive_int),
    Setting("console_session_ttl_s", 8 * 3600, "seconds a web console session lasts after signing in; at least 60",
            _positive_int),
    Setting("master_key", "", "the master key as base64 (default: <data-dir>/master.key, created on first "
            "start); it seals every stored secret"),
    Setting("async_retry_base_s", 60.0, "seconds before the first retry of a failed asynchronous invocation "
            "(the second waits twice as long), as Lambda does", float),
    Setting("url_domain", "lambda-url.localhost", "domain of function URLs: http://<url-id>.<domain>:<port>/ "
            "(path-style /lambda-url/<url-id>/ works on any host), and of HTTP APIs: "
            "http://<api-id>.execute-api.<domain>:<port>/ (path-style /execute-api/<api-id>/)"),
    Setting("trusted_proxies", (), "comma-separated CIDRs of reverse proxies in front of function URLs whose "
            "X-Forwarded-For/-Proto/-Port are believed (default none: a caller cannot claim another address "
            "or protocol), e.g. 10.0.0.5/32", _networks),
    Setting("runtime_api_port", 0, "port of the in-container Runtime API on the Docker bridge "
            "(0 picks a free one)", _positive_int),
    Setting("max_streamed_response_bytes", 200 * 1024 * 1024, "largest response a function may stream "
            "(InvokeWithResponseStream, RESPONSE_STREAM URLs); Lambda's default is 200 MiB", _positive_int),
    Setting("shutdown_grace_s", 30, "seconds SIGTERM waits for in-flight invocations", _positive_int),
    Setting("invocation_retention_days", 30.0, "days invocation records and their logs, and the asynchronous "
            "invocations that failed for good (faas events NAME), are kept before they are deleted (fractions "
            "allowed; 0 keeps them forever)", _days),
    Setting("audit_retention_days", 90.0, "days audit log entries are kept before they are deleted, as long as "
            "CloudTrail's event history (fractions allowed; 0 keeps them forever)", _days),
    Setting("build_images", True, "build missing runtime images at start", _bool),
    Setting("egress", "public", "what functions may reach: public (the internet, not this host, private ranges or "
            "169.254.0.0/16), none (only the platform) or open (no firewall)", _egress),
    Setting("egress_allow", (), "comma-separated IPv4 CIDRs functions may reach whatever FAAS_EGRESS says, "
            "e.g. 10.0.5.0/24", _cidrs),
    Setting("topic_http_deny", ("127.0.0.0/8", "::1/128", "0.0.0.0/8", "169.254.0.0/16", "fe80::/10",
                                "fd00:ec2::254/128"),
            "comma-separated CIDRs SNS http/https deliveries may never reach (checked on every address the "
            "endpoint's name resolves to): by default this host, link-local and cloud metadata addresses", _networks),
    Setting("topic_http_allow", (), "comma-separated CIDRs SNS http/https deliveries may reach even inside "
            "FAAS_TOPIC_HTTP_DENY, e.g. 127.0.0.1/32 for a receiver on this host", _networks),
    Setting("topic_http_retry_s", 20.0, "seconds between the retries of a failed SNS http/https delivery (3 "
            "retries, as SNS's default delivery policy)", float),
    Setting("billing_step_ms", 100, "invocations are billed in steps of this many ms, rounded up (100: as this "
            "platform always metered; 1: as AWS bills since 2020)", _step_ms),
    Setting("bill_init", False, "bill the init phase of cold starts too (true: as AWS bills since 2025)", _bool),
    Setting("price_per_million_requests", 0.20, "price in USD of a million requests (AWS x86: 0.20)", _amount),
    Setting("price_per_gb_second", 0.0000166667, "price in USD of a GB-second (AWS x86: 0.0000166667)", _amount),
    Setting("free_requests", 1_000_000, "requests free each month, per account, before pricing", _positive_int),
    Setting("free_gb_seconds", 400_000.0, "GB-seconds free each month, per account, before pricing", _amount),
    Setting("usage_enabled", True, "keep the usage rollups (GET /faas/v1/usage) and enforce budgets; false writes "
            "none (invocation records are kept either way)", _bool),
    Setting("debian_mirror", "", "Debian mirror for the runtime images' base (default: the host's apt sources)"),
    Setting("log_level", "info", "log level: debug, info, warning or error (warning keeps the warnings and "
            "errors: no access log, no start-up lines)", flag=True),
    Setting("log_format", "text", "text (an access-log line per request, plain lines for the rest) or json (one "
            "JSON object per line)", flag=True),
    Setting("metrics_enabled", True, "count invocations, throttles and API requests for GET /metrics (Prometheus "
            "text format, authorised by faas:GetMetrics); false turns the counting and the endpoint off", _bool),
    Setting("clock_file", "", "TEST/DEVELOPMENT AID, never for production: a file holding an ISO-8601 instant "
            "that schedules and schedule rules treat as now (advancing from the file's last write); refused unless the API listens "
            "on a loopback address"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str
    port: int
    data_dir: Path
    database_url: str
    tls_cert: str
    tls_key: str
    region: str
    account_id: str
    docker_network: str
    image_prefix: str
    image_repositories: tuple[str, ...]
    sandbox_dir: Path
    keep_alive_s: int
    max_concurrency: int
    prewarm_per_runtime: int
    prewarm_memory_mb: int
    parallel_starts: int
    credentials_ttl_s: int
    token_max_ttl_s: int
    console_session_ttl_s: int
    master_key: str
    async_retry_base_s: float
    url_domain: str
    trusted_proxies: tuple[str, ...]
    runtime_api_port: int
    max_streamed_response_bytes: int
    shutdown_grace_s: int
    invocation_retention_days: float
    audit_retention_days: float
    build_images: bool
    egress: str
    egress_allow: tuple[str, ...]
    topic_http_deny: tuple[str, ...]
    topic_http_allow: tuple[str, ...]
    topic_http_retry_s: float
    billing_step_ms: int
    bill_init: bool
    price_per_million_requests: float
    price_per_gb_second: float
    free_requests: int
    free_gb_seconds: float
    usage_enabled: bool
    debian_mirror: str
    log_level: str
    log_format: str
    metrics_enabled: bool
    clock_file: str

    @property
    def effective_database_url(self) -> str:
        return normalise_database_url(self.database_url or f"sqlite:///{self.data_dir / 'faas.db'}")

    def __repr__(self) -> str:  # never print the master key
        return f"Settings(data_dir={self.data_dir!s}, host={self.host!r}, port={self.port})"

    @property
    def scheme(self) -> str:
        """How clients reach the API and function URLs."""
        return "https" if self.tls_cert else "http"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials"

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"


def normalise_database_url(url: str) -> str:
    """Pick the async driver for the plain URLs operators write."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def default_data_dir() -> Path:
    """Where the data dir is when neither FAAS_DATA_DIR nor --data-dir says."""
    return Path(os.path.expanduser(str(_BY_NAME["data_dir"].default))).resolve()


def load(env: Mapping[str, str], **overrides: Any) -> Settings:
    """Settings from a mapping of FAAS_* variables; explicit overrides (CLI options) win."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides.get(setting.name)
        if raw is None:
            raw = env.get(setting.env)
        if raw is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={raw!r} is not valid: {exc}") from exc
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    values["data_dir"] = Path(os.path.expanduser(str(values["data_dir"]))).resolve()
    values["sandbox_dir"] = Path(os.path.expanduser(str(values["sandbox_dir"]))).resolve()
    if bool(values["tls_cert"]) != bool(values["tls_key"]):
        raise ConfigError("FAAS_TLS_CERT (--tls-cert) and FAAS_TLS_KEY (--tls-key) go together: set both, or neither")
    for name in ("tls_cert", "tls_key"):
        values[name] = os.path.abspath(os.path.expanduser(values[name])) if values[name] else ""
    if values["log_level"] not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"FAAS_LOG_LEVEL={values['log_level']!r} is not one of debug, info, warning, error")
    if values["log_format"] not in ("text", "json"):
        raise ConfigError(f"FAAS_LOG_FORMAT={values['log_format']!r} is not one of text, json")
    if values["token_max_ttl_s"] < 60:
        raise ConfigError("FAAS_TOKEN_MAX_TTL_S must be at least 60 (seconds)")
    if values["console_session_ttl_s"] < 60:
        raise ConfigError("FAAS_CONSOLE_SESSION_TTL_S must be at least 60 (seconds)")
    if not (values["account_id"].isdigit() and len(values["account_id"]) == 12):
        raise ConfigError("FAAS_ACCOUNT_ID must be 12 digits")
    if values["egress"] == "open" and values["egress_allow"]:
        raise ConfigError("FAAS_EGRESS_ALLOW has no effect with FAAS_EGRESS=open, which allows everything: "
                          "set FAAS_EGRESS=public or none, or drop FAAS_EGRESS_ALLOW")
    return Settings(**values)
