"""Bearer tokens name the access key that minted them (and die with it) and get an id to list and revoke.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Tokens stored before this revision do not say which key minted them, so nothing could revoke them
when that key is disabled or deleted: the table is rebuilt empty. Tokens live at most seven days
and `faas token` mints a new one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("tokens")
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["principal"], ["principals.name"], ondelete="CASCADE",
                                name="fk_tokens_principal_principals"),
        sa.ForeignKeyConstraint(["key_id"], ["access_keys.key_id"], ondelete="CASCADE",
                                name="fk_tokens_key_id_access_keys"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_tokens"),
        sa.UniqueConstraint("token_id", name="uq_tokens_token_id"),
    )
    op.create_index("ix_tokens_principal", "tokens", ["principal"])
    op.create_index("ix_tokens_key_id", "tokens", ["key_id"])


def downgrade() -> None:
    op.drop_table("tokens")
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
