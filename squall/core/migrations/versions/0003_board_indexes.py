"""Indexes for the board: counts by deployment, status, stage and cluster; cluster filter.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_node_tasks_deployment_status")
        batch_op.create_index(
            "ix_node_tasks_deployment_status",
            ["deployment_id", "status", "stage_id", "cluster_name"],
            unique=False,
        )
        batch_op.create_index(
            "ix_node_tasks_cluster_deployment", ["cluster_name", "deployment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("node_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_node_tasks_cluster_deployment")
        batch_op.drop_index("ix_node_tasks_deployment_status")
        batch_op.create_index(
            "ix_node_tasks_deployment_status", ["deployment_id", "status"], unique=False
        )
