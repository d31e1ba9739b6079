"""Functions keep their architecture (x86_64 for every function so far) and their tags.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("architecture", sa.String(16), nullable=False, server_default="x86_64"))
    op.create_table(
        "function_tags",
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(["function_name"], ["functions.name"], ondelete="CASCADE",
                                name="fk_function_tags_function_name_functions"),
        sa.PrimaryKeyConstraint("function_name", "key", name="pk_function_tags"),
    )


def downgrade() -> None:
    op.drop_table("function_tags")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("architecture")
