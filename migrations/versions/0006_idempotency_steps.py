"""Idempotency steps: each answer of a non-atomic batch, kept with its operation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:59:33.039346
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_steps",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("step", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", "step", name=op.f("pk_idempotency_steps")),
    )
    op.create_index(op.f("ix_idempotency_steps_created_at"), "idempotency_steps", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_steps_created_at"), table_name="idempotency_steps")
    op.drop_table("idempotency_steps")
