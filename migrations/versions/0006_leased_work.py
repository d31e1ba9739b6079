"""One table of leased work (work_items) for every kind of pending work; queued asynchronous invocations
move into it (kind "async") and async_events goes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ASYNC = "async"
# The tables as this revision knows them (migrations do not import the application's code, which moves on).
async_events = sa.table(
    "async_events", sa.column("request_id", sa.String), sa.column("function_name", sa.String),
    sa.column("payload", sa.LargeBinary), sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer), sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("lease_until", sa.DateTime(timezone=True)), sa.column("node", sa.String),
    sa.column("status", sa.String))
work_items = sa.table(
    "work_items", sa.column("kind", sa.String), sa.column("key", sa.String), sa.column("payload", sa.LargeBinary),
    sa.column("created_at", sa.DateTime(timezone=True)), sa.column("due_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer), sa.column("owner", sa.String))
BATCH = 500


def _async_payload(function_name: str, payload: bytes) -> bytes:
    """An asynchronous invocation's work payload: a JSON header line naming the function, then its bytes."""
    return json.dumps({"function": function_name}).encode() + b"\n" + bytes(payload)


def _copy(query, target, convert) -> None:  # type: ignore[no-untyped-def]
    bind = op.get_bind()
    rows = [convert(row) for row in bind.execute(query).mappings()]
    for start in range(0, len(rows), BATCH):
        bind.execute(sa.insert(target), rows[start:start + BATCH])


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("group_key", sa.String(128), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_work_items"),
        sa.UniqueConstraint("kind", "key", name="uq_work_items_kind_key"),
    )
    op.create_index("ix_work_items_kind_due_at", "work_items", ["kind", "due_at"])
    op.create_index("ix_work_items_kind_group_key", "work_items", ["kind", "group_key"])
    op.create_index("ix_work_items_owner", "work_items", ["owner"])

    def queued(row):  # type: ignore[no-untyped-def]
        # A running event keeps its node as owner and its lease as due time: the restarted node hands it back
        # at once, another node takes it when the lease runs out, as before.
        running = row["status"] == "running"
        return {"kind": ASYNC, "key": row["request_id"],
                "payload": _async_payload(row["function_name"], row["payload"]), "created_at": row["created_at"],
                "due_at": row["lease_until"] if running else row["next_attempt_at"], "attempts": row["attempts"],
                "owner": row["node"] if running else None}

    _copy(sa.select(async_events), work_items, queued)
    op.drop_index("ix_async_events_status", table_name="async_events")
    op.drop_index("ix_async_events_next_attempt_at", table_name="async_events")
    op.drop_table("async_events")


def downgrade() -> None:
    op.create_table(
        "async_events",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("node", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_async_events"),
    )
    op.create_index("ix_async_events_next_attempt_at", "async_events", ["next_attempt_at"])
    op.create_index("ix_async_events_status", "async_events", ["status"])

    def event(row):  # type: ignore[no-untyped-def]
        header, _, payload = bytes(row["payload"]).partition(b"\n")
        running = row["owner"] is not None
        return {"request_id": row["key"], "function_name": json.loads(header)["function"], "payload": payload,
                "created_at": row["created_at"], "attempts": row["attempts"], "next_attempt_at": row["due_at"],
                "lease_until": row["due_at"] if running else None, "node": row["owner"],
                "status": "running" if running else "queued"}

    # Only asynchronous invocations existed before this revision.
    _copy(sa.select(work_items).where(work_items.c.kind == ASYNC), async_events, event)
    op.drop_index("ix_work_items_owner", table_name="work_items")
    op.drop_index("ix_work_items_kind_group_key", table_name="work_items")
    op.drop_index("ix_work_items_kind_due_at", table_name="work_items")
    op.drop_table("work_items")
