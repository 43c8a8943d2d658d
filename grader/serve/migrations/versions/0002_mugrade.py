"""The mugrade protocol: published values per problem, and the values students submit with their verdicts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from grader.serve.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mugrade_problems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("assignment", sa.String(64), nullable=False),
        sa.Column("problem", sa.String(200), nullable=False),
        sa.Column("values", sa.Text, nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("published_by", sa.Integer, sa.ForeignKey("people.id")),
        sa.UniqueConstraint("assignment", "problem"),
    )
    op.create_table(
        "mugrade_submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
        sa.Column("assignment", sa.String(64), nullable=False),
        sa.Column("problem", sa.String(200), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "mugrade_verdicts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("mugrade_submissions.id"), nullable=False, index=True),
        sa.Column("test_index", sa.Integer, nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("submission_id", "test_index"),
    )


def downgrade():
    op.drop_table("mugrade_verdicts")
    op.drop_table("mugrade_submissions")
    op.drop_table("mugrade_problems")
