"""FIFO queues' deduplication: the deduplication ids a queue has accepted within the last five minutes, with
the message each one named, so a duplicate send answers the original's MessageId and stores nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_deduplication",
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("deduplication_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("queue", "scope", "deduplication_id", name="pk_queue_deduplication"),
    )


def downgrade() -> None:
    op.drop_table("queue_deduplication")
