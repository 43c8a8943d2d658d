"""What an upload's files say against the course's year, kept with it; the course's time budget per submission.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("submissions", sa.Column("warnings", sa.Text))
    op.add_column("course", sa.Column("budget_seconds", sa.Integer, nullable=False, server_default="120"))


def downgrade():
    with op.batch_alter_table("course") as table:
        table.drop_column("budget_seconds")
    with op.batch_alter_table("submissions") as table:
        table.drop_column("warnings")
