"""Event source mappings: which queue feeds which function, with Lambda's settings and state.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("source_arn", sa.String(256), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("response_types", sa.Text(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(256), nullable=False),
        sa.Column("last_result", sa.String(256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_event_source_mappings"),
    )
    op.create_index("ix_event_source_mappings_function_name", "event_source_mappings", ["function_name"])
    op.create_index("ix_event_source_mappings_source_arn", "event_source_mappings", ["source_arn"])


def downgrade() -> None:
    op.drop_index("ix_event_source_mappings_source_arn", "event_source_mappings")
    op.drop_index("ix_event_source_mappings_function_name", "event_source_mappings")
    op.drop_table("event_source_mappings")
