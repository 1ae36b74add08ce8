"""drop participant_id indexes the unique keys cover

Each of these tables is unique on (participant_id, ...), and that index serves every
lookup by participant; the single-column index only cost a write per row version.

Revision ID: 7a90dd06cd4d
Revises: 020400f1a383
Create Date: 2026-12-07 11:00:55.367579
"""

from __future__ import annotations

from alembic import op

revision = "7a90dd06cd4d"
down_revision = "020400f1a383"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_amputation_event_participant_id"), table_name="amputation_event")
    op.drop_index(op.f("ix_pain_score_participant_id"), table_name="pain_score")
    op.drop_index(op.f("ix_reminder_participant_id"), table_name="reminder")
    op.drop_index(op.f("ix_symptom_report_participant_id"), table_name="symptom_report")
    op.drop_index(op.f("ix_ulcer_participant_id"), table_name="ulcer")
    op.drop_index(op.f("ix_ulcer_photo_participant_id"), table_name="ulcer_photo")
    op.drop_index(op.f("ix_walk_test_participant_id"), table_name="walk_test")


def downgrade() -> None:
    op.create_index(op.f("ix_walk_test_participant_id"), "walk_test", ["participant_id"], unique=False)
    op.create_index(op.f("ix_ulcer_photo_participant_id"), "ulcer_photo", ["participant_id"], unique=False)
    op.create_index(op.f("ix_ulcer_participant_id"), "ulcer", ["participant_id"], unique=False)
    op.create_index(op.f("ix_symptom_report_participant_id"), "symptom_report", ["participant_id"], unique=False)
    op.create_index(op.f("ix_reminder_participant_id"), "reminder", ["participant_id"], unique=False)
    op.create_index(op.f("ix_pain_score_participant_id"), "pain_score", ["participant_id"], unique=False)
    op.create_index(op.f("ix_amputation_event_participant_id"), "amputation_event", ["participant_id"], unique=False)
