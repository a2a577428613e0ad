"""Gates, bake time, health-check and rollback stages, approvals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_approvals_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_approvals_stage_id_stages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("stage_id", "actor", name=op.f("uq_approvals_stage_id")),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approvals_deployment_id"), ["deployment_id"], unique=False
        )

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "options",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )

    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "deploy", "check", "rollback", name="stagekind", native_enum=False, length=24
                ),
                nullable=False,
                server_default="deploy",
            )
        )
        batch_op.add_column(
            sa.Column("gate", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("approvals_required", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("bake_seconds", sa.Double(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("bake_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("undoes_stage_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_stages_undoes_stage_id_stages"),
            "stages",
            ["undoes_stage_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_stages_undoes_stage_id_stages"), type_="foreignkey")
        batch_op.drop_column("undoes_stage_id")
        batch_op.drop_column("bake_until")
        batch_op.drop_column("bake_seconds")
        batch_op.drop_column("approvals_required")
        batch_op.drop_column("gate")
        batch_op.drop_column("kind")

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("options")

    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approvals_deployment_id"))

    op.drop_table("approvals")
