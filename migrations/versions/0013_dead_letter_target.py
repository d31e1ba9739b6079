"""Dead-letter targets: the SQS queue or SNS topic (ARN) that gets a function's asynchronous events after
they failed every attempt (Lambda's DeadLetterConfig).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("dead_letter_target", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("dead_letter_target")
