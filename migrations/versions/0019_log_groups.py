"""CloudWatch Logs: each invocation record names its environment's log stream and keeps when it ended, and log
groups keep their retention.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invocations") as batch:
        batch.add_column(sa.Column("log_stream", sa.String(128), nullable=True))
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_invocations_function_name_log_stream", "invocations",
                    ["function_name", "log_stream", "ended_at"])
    op.create_index("ix_invocations_function_name_ended_at", "invocations",
                    ["function_name", "ended_at", "request_id"])
    op.create_table(
        "log_groups",
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention_in_days", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("function_name", name="pk_log_groups"),
    )
    # Functions invoked before have groups already, as their records show.
    op.execute("INSERT INTO log_groups (function_name, created_at, retention_in_days) "
               "SELECT function_name, MIN(started_at), NULL FROM invocations GROUP BY function_name")


def downgrade() -> None:
    op.drop_table("log_groups")
    op.drop_index("ix_invocations_function_name_ended_at", table_name="invocations")
    op.drop_index("ix_invocations_function_name_log_stream", table_name="invocations")
    with op.batch_alter_table("invocations") as batch:
        batch.drop_column("ended_at")
        batch.drop_column("log_stream")
