"""HTTP APIs (API Gateway v2): APIs, and their routes, integrations, stages and authorizers.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_apis",
        sa.Column("api_id", sa.String(16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("api_id", name="pk_http_apis"),
    )
    op.create_table(
        "http_api_parts",
        sa.Column("api_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("part_id", sa.String(128), nullable=False),
        sa.Column("unique_key", sa.String(512), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["api_id"], ["http_apis.api_id"], name="fk_http_api_parts_api_id_http_apis",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("api_id", "kind", "part_id", name="pk_http_api_parts"),
        sa.UniqueConstraint("api_id", "kind", "unique_key", name="uq_http_api_parts_api_id_kind_unique_key"),
    )


def downgrade() -> None:
    op.drop_table("http_api_parts")
    op.drop_table("http_apis")
