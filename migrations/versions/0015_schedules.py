"""Schedules (EventBridge Scheduler): schedule groups, with a `default` group, and schedules with their next
due time, which nodes advance with a compare-and-swap as they fire them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    groups = op.create_table(
        "schedule_groups",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_schedule_groups"),
    )
    op.create_table(
        "schedules",
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("expression", sa.String(256), nullable=False),
        sa.Column("timezone", sa.String(50), nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("description", sa.String(512), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("flexible_window_min", sa.Integer(), nullable=True),
        sa.Column("delete_after_completion", sa.Boolean(), nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("last_skipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_token", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["group_name"], ["schedule_groups.name"], ondelete="CASCADE",
                                name="fk_schedules_group_name_schedule_groups"),
        sa.PrimaryKeyConstraint("group_name", "name", name="pk_schedules"),
    )
    op.create_index("ix_schedules_fire_at", "schedules", ["fire_at"])
    # The `default` group always exists (DeleteScheduleGroup refuses it).
    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(groups, [{"name": "default", "created_at": now, "last_modified": now}])


def downgrade() -> None:
    op.drop_index("ix_schedules_fire_at", "schedules")
    op.drop_table("schedules")
    op.drop_table("schedule_groups")
