"""Functions, code blobs, invocation records and access keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("runtime", sa.String(32), nullable=True),
        sa.Column("handler", sa.String(128), nullable=True),
        sa.Column("role", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("memory_size", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("ephemeral_storage", sa.Integer(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("package_type", sa.String(8), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=True),
        sa.Column("code_size", sa.BigInteger(), nullable=False),
        sa.Column("image_uri", sa.String(512), nullable=True),
        sa.Column("image_config", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_functions"),
    )
    op.create_table(
        "code_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_code_blobs"),
    )
    op.create_table(
        "invocations",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("billed_duration_ms", sa.Integer(), nullable=False),
        sa.Column("memory_size", sa.Integer(), nullable=False),
        sa.Column("max_memory_used_mb", sa.Integer(), nullable=False),
        sa.Column("init_duration_ms", sa.Float(), nullable=True),
        sa.Column("cold", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_invocations"),
    )
    op.create_index("ix_invocations_function_name", "invocations", ["function_name"])
    op.create_index("ix_invocations_started_at", "invocations", ["started_at"])
    op.create_table(
        "access_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_access_keys"),
    )
    op.create_index("ix_access_keys_principal", "access_keys", ["principal"])


def downgrade() -> None:
    op.drop_table("access_keys")
    op.drop_table("invocations")
    op.drop_table("code_blobs")
    op.drop_table("functions")
