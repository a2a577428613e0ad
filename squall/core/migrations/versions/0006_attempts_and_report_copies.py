"""Attempts kept forever (task_attempts), the report copies Squall issued (report_copies),
and room for the status `succeeded_with_exclusions`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "task_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("node_name", sa.String(length=200), nullable=False),
        sa.Column("stage_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_step", sa.Integer(), nullable=True),
        sa.Column("failed_step_name", sa.String(length=200), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("last_lines", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_task_attempts_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["node_tasks.id"],
            name=op.f("fk_task_attempts_task_id_node_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_attempts")),
    )
    with op.batch_alter_table("task_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_attempts_deployment_id"), ["deployment_id"], unique=False
        )

    op.create_table(
        "report_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=10), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("as_of_event", sa.Integer(), nullable=False),
        sa.Column("generated_by", sa.String(length=200), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_copies")),
    )
    with op.batch_alter_table("report_copies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_copies_data_sha256"), ["data_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_report_copies_file_sha256"), ["file_sha256"], unique=False
        )

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=24), type_=sa.String(length=32)
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=32), type_=sa.String(length=24)
        )
    with op.batch_alter_table("report_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_copies_file_sha256"))
        batch_op.drop_index(batch_op.f("ix_report_copies_data_sha256"))
    op.drop_table("report_copies")
    with op.batch_alter_table("task_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_attempts_deployment_id"))
    op.drop_table("task_attempts")
