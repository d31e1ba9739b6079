"""Asynchronous invocations, event-invoke configs and function URLs; one invocation record per attempt.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sessions remember their node, so a restarted node can revoke what its dead environments held.
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("node", sa.String(32), nullable=True))
    # Retries of an asynchronous invocation share its request id: one record per attempt.
    with op.batch_alter_table("invocations", recreate="always") as batch:
        batch.drop_constraint("pk_invocations", type_="primary")
        batch.create_primary_key("pk_invocations", ["request_id", "started_at"])
    op.create_table(
        "async_events",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("node", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_async_events"),
    )
    op.create_index("ix_async_events_next_attempt_at", "async_events", ["next_attempt_at"])
    op.create_index("ix_async_events_status", "async_events", ["status"])
    op.create_table(
        "event_invoke_configs",
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("maximum_retry_attempts", sa.Integer(), nullable=False),
        sa.Column("maximum_event_age_s", sa.Integer(), nullable=False),
        sa.Column("on_success", sa.String(256), nullable=True),
        sa.Column("on_failure", sa.String(256), nullable=True),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["function_name"], ["functions.name"], ondelete="CASCADE",
                                name="fk_event_invoke_configs_function_name_functions"),
        sa.PrimaryKeyConstraint("function_name", name="pk_event_invoke_configs"),
    )
    op.create_table(
        "function_urls",
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("url_id", sa.String(40), nullable=False),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("cors", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["function_name"], ["functions.name"], ondelete="CASCADE",
                                name="fk_function_urls_function_name_functions"),
        sa.PrimaryKeyConstraint("function_name", name="pk_function_urls"),
        sa.UniqueConstraint("url_id", name="uq_function_urls_url_id"),
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("node")
    with op.batch_alter_table("invocations", recreate="always") as batch:
        batch.drop_constraint("pk_invocations", type_="primary")
        batch.create_primary_key("pk_invocations", ["request_id"])
    op.drop_table("function_urls")
    op.drop_table("event_invoke_configs")
    op.drop_table("async_events")
