"""The SQL schema, declared once; alembic migrations in migrations/ must build exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("runtime", String(32), nullable=True),
    Column("handler", String(128), nullable=True),
    Column("role", String(2048), nullable=False),
    Column("description", String(256), nullable=False, default=""),
    Column("memory_size", Integer, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("ephemeral_storage", Integer, nullable=False),
    Column("environment", Text, nullable=False),  # JSON object; never logged
    Column("package_type", String(8), nullable=False),
    # A blob can only be dropped once no function uses it, even with a concurrent create in flight.
    Column("code_sha256", String(64), ForeignKey("code_blobs.sha256"), nullable=True),
    Column("code_size", BigInteger, nullable=False),
    Column("image_uri", String(512), nullable=True),
    Column("image_config", Text, nullable=False),  # JSON object
    Column("revision_id", String(36), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
    Column("reserved_concurrency", Integer, nullable=True),
)

# Zips are stored once per content hash, shared by every function that uploads the same bytes.
code_blobs = Table(
    "code_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

invocations = Table(
    "invocations",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("function_name", String(64), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("duration_ms", Float, nullable=False),
    Column("billed_duration_ms", Integer, nullable=False),
    Column("memory_size", Integer, nullable=False),
    Column("max_memory_used_mb", Integer, nullable=False),
    Column("init_duration_ms", Float, nullable=True),
    Column("cold", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_type", String(128), nullable=True),
    Column("log", Text, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("principal", String(64), nullable=False, index=True),
    Column("secret", LargeBinary, nullable=False),  # sealed with the master key
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
