"""Principals, inline policies, roles, sessions, tokens, function permissions, audit log; encrypted env.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Environment variables stored in plaintext before this revision are encrypted by the server at its
next start (it holds the master key, the migration does not) and the plaintext column is emptied.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("env_ciphertext", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("data_key", sa.LargeBinary(), nullable=True))
    op.create_table(
        "principals",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_principals"),
    )
    op.create_table(
        "principal_policies",
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["principal"], ["principals.name"], ondelete="CASCADE",
                                name="fk_principal_policies_principal_principals"),
        sa.PrimaryKeyConstraint("principal", "name", name="pk_principal_policies"),
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_roles"),
    )
    op.create_table(
        "role_policies",
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["role"], ["roles.name"], ondelete="CASCADE", name="fk_role_policies_role_roles"),
        sa.PrimaryKeyConstraint("role", "name", name="pk_role_policies"),
    )
    op.create_table(
        "sessions",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_sessions"),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["principal"], ["principals.name"], ondelete="CASCADE",
                                name="fk_tokens_principal_principals"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_tokens"),
    )
    op.create_table(
        "function_permissions",
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(100), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["function_name"], ["functions.name"], ondelete="CASCADE",
                                name="fk_function_permissions_function_name_functions"),
        sa.PrimaryKeyConstraint("function_name", "sid", name="pk_function_permissions"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_principal", "audit_log", ["principal"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_table(
        "meta",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_meta"),
    )
    # Every access key so far belongs to the admin made at first start.
    op.execute("INSERT INTO principals (name, kind, created_at) SELECT DISTINCT principal, 'user', "
               "MIN(created_at) FROM access_keys GROUP BY principal")


def downgrade() -> None:
    for table in ("meta", "audit_log", "function_permissions", "tokens", "sessions", "role_policies", "roles",
                  "principal_policies", "principals"):
        op.drop_table(table)
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("data_key")
        batch.drop_column("env_ciphertext")
