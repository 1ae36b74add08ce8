"""drop the diary_date and audit study_id indexes no query uses

Every query of pain scores by day is for some participants, which the partial unique
index uq_pain_score_current_day (participant_id, diary_date) serves; nothing looks audit
events up by study. Each index cost a write per pain-score version or audited write.

Revision ID: fbce9f992136
Revises: 7a90dd06cd4d
Create Date: 2026-12-07 14:12:37.235886
"""

from __future__ import annotations

from alembic import op

revision = "fbce9f992136"
down_revision = "7a90dd06cd4d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_audit_event_study_id"), table_name="audit_event")
    op.drop_index(op.f("ix_pain_score_diary_date"), table_name="pain_score")


def downgrade() -> None:
    op.create_index(op.f("ix_pain_score_diary_date"), "pain_score", ["diary_date"], unique=False)
    op.create_index(op.f("ix_audit_event_study_id"), "audit_event", ["study_id"], unique=False)
