"""the patient's box around the wound, and the estimator's retake reasons

A box drawn around the wound anchors the segmentation next to the tap, and is kept with
the photo so a reanalysis uses it too. An analysis says why the photo should be retaken;
results from before have none.

Revision ID: 3c1e0b7d52a9
Revises: fbce9f992136
Create Date: 2026-12-07 23:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3c1e0b7d52a9"
down_revision = "fbce9f992136"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ulcer_photo", sa.Column("patient_box", sa.JSON(), nullable=True))
    op.add_column("photo_analysis", sa.Column("retake", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("photo_analysis") as batch:
        batch.drop_column("retake")
    with op.batch_alter_table("ulcer_photo") as batch:
        batch.drop_column("patient_box")
