"""The course's time zone, a regrade the course needs, and each regrade's note.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # A course made before time zones showed its times in UTC: it keeps doing so until `course set --timezone`.
    with op.batch_alter_table("course") as table:
        table.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
        table.add_column(sa.Column("regrade_needed", sa.String(200)))
    with op.batch_alter_table("jobs") as table:
        table.add_column(sa.Column("note", sa.Text))


def downgrade():
    with op.batch_alter_table("jobs") as table:
        table.drop_column("note")
    with op.batch_alter_table("course") as table:
        table.drop_column("regrade_needed")
        table.drop_column("timezone")
