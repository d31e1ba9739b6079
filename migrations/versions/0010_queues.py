"""SQS queues: their metadata in `queues`; their messages are leased work items, which now remember when
they were first claimed (SQS's ApproximateFirstReceiveTimestamp).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_queues"),
    )
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("first_claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("first_claimed_at")
    op.drop_table("queues")
