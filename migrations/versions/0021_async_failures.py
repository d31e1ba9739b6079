"""Asynchronous invocations that failed for good, listed by `faas events NAME` after their work item is gone.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_failures",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("sent_to", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["function_name"], ["functions.name"], name="fk_async_failures_function_name_functions",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id", name="pk_async_failures"),
    )
    op.create_index("ix_async_failures_failed_at", "async_failures", ["failed_at"])
    op.create_index("ix_async_failures_function_name_failed_at", "async_failures", ["function_name", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_async_failures_function_name_failed_at", table_name="async_failures")
    op.drop_index("ix_async_failures_failed_at", table_name="async_failures")
    op.drop_table("async_failures")
