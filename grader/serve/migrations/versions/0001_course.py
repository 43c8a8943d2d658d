"""A course: its settings, people, submissions with their archives, and grading jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from grader.serve.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "course",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("year", sa.String(4), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("deadline", UTCDateTime()),
        sa.Column("late_policy", sa.String(16), nullable=False),
        sa.Column("penalty_per_day", sa.Float, nullable=False),
        sa.Column("counts", sa.String(16), nullable=False),
        sa.Column("cooloff_seconds", sa.Integer, nullable=False),
        sa.Column("daily_limit", sa.Integer),
        sa.Column("max_archive_bytes", sa.Integer, nullable=False),
        sa.Column("lease_seconds", sa.Integer, nullable=False),
        sa.Column("session_secret", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("email", sa.String(320)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("extension_until", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("archive_name", sa.String(255), nullable=False),
        sa.Column("archive", sa.LargeBinary, nullable=False),
        sa.Column("archive_sha256", sa.String(64), nullable=False),
        sa.Column("counts_for_limits", sa.Boolean, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False, index=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("enqueued_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("cases_done", sa.Integer, nullable=False),
        sa.Column("cases_total", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("internal", sa.Boolean, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("score", sa.Float),
        sa.Column("max_score", sa.Float),
        sa.Column("suites", sa.Text),
    )
    op.create_index("jobs_state_priority", "jobs", ["state", "priority", "id"])


def downgrade():
    op.drop_index("jobs_state_priority", "jobs")
    op.drop_table("jobs")
    op.drop_table("submissions")
    op.drop_table("people")
    op.drop_table("course")
