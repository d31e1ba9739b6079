"""Reserved concurrency per function; functions reference their code blob.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("reserved_concurrency", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_functions_code_sha256_code_blobs", "code_blobs", ["code_sha256"], ["sha256"])


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_constraint("fk_functions_code_sha256_code_blobs", type_="foreignkey")
        batch.drop_column("reserved_concurrency")
