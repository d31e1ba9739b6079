"""Function URLs keep their InvokeMode (BUFFERED or RESPONSE_STREAM); existing URLs are BUFFERED, the only
mode there was.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("function_urls") as batch:
        batch.add_column(sa.Column("invoke_mode", sa.String(16), nullable=False, server_default="BUFFERED"))


def downgrade() -> None:
    with op.batch_alter_table("function_urls") as batch:
        batch.drop_column("invoke_mode")
