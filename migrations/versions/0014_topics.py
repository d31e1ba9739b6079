"""SNS topics: topics, their subscriptions and FIFO topics' deduplication ids; what a publish fans out to
waits as leased work items.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_topics"),
    )
    op.create_table(
        "topic_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(2048), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_topic_subscriptions"),
    )
    op.create_index("ix_topic_subscriptions_topic", "topic_subscriptions", ["topic"])
    op.create_index("ix_topic_subscriptions_token_hash", "topic_subscriptions", ["token_hash"])
    op.create_table(
        "topic_deduplication",
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("deduplication_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "deduplication_id", name="pk_topic_deduplication"),
    )


def downgrade() -> None:
    op.drop_table("topic_deduplication")
    op.drop_index("ix_topic_subscriptions_token_hash", table_name="topic_subscriptions")
    op.drop_index("ix_topic_subscriptions_topic", table_name="topic_subscriptions")
    op.drop_table("topic_subscriptions")
    op.drop_table("topics")
