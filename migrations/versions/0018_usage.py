"""Usage and billing: each function's owner, usage rolled up per month, function and owner, and budgets.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("owner", sa.String(2048), nullable=True))
    op.create_table(
        "usage_rollups",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(2048), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("throttles", sa.BigInteger(), nullable=False),
        sa.Column("cold_starts", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("billed_ms", sa.BigInteger(), nullable=False),
        sa.Column("mb_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("month", "function_name", "owner", name="pk_usage_rollups"),
    )
    op.create_table(
        "budgets",
        sa.Column("owner", sa.String(2048), nullable=False),
        sa.Column("gb_seconds", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("owner", name="pk_budgets"),
    )


def downgrade() -> None:
    op.drop_table("budgets")
    op.drop_table("usage_rollups")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("owner")
