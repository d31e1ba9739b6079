"""EventBridge: event buses (with the default one), rules and targets.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    buses = op.create_table(
        "event_buses",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_event_buses"),
    )
    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(buses, [{"name": "default", "description": "", "created_at": now, "modified_at": now}])
    op.create_table(
        "event_rules",
        sa.Column("bus", sa.String(256), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("event_pattern", sa.Text(), nullable=True),
        sa.Column("schedule_expression", sa.String(256), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("role_arn", sa.String(1600), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("bus", "name", name="pk_event_rules"),
    )
    op.create_index("ix_event_rules_next_due", "event_rules", ["next_due"])
    op.create_table(
        "event_targets",
        sa.Column("bus", sa.String(256), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("arn", sa.String(1600), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("bus", "rule", "target_id", name="pk_event_targets"),
    )


def downgrade() -> None:
    op.drop_table("event_targets")
    op.drop_index("ix_event_rules_next_due", "event_rules")
    op.drop_table("event_rules")
    op.drop_table("event_buses")
