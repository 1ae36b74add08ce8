"""The patient's symptom reports (/me/symptoms) and the staff view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.entries.views import own_entries_view, participant_entries_view
from backend.staff import roles
from backend.symptoms import service
from backend.symptoms.schemas import (
    SymptomQueryArgsSchema,
    SymptomReportCorrectionSchema,
    SymptomReportCreateSchema,
    SymptomReportSchema,
)

blp = Blueprint("symptoms", __name__, url_prefix="/api/v1", description="Symptom and adverse-event reports")


blp.route("/me/symptoms")(
    own_entries_view(
        blp,
        (SymptomQueryArgsSchema, SymptomReportCreateSchema, SymptomReportSchema),
        service.symptoms_query,
        service.record_symptom,
        (
            "List your own symptom reports, newest first.",
            "Report a symptom; the study nurse is told (at once for severe ones).",
        ),
    )
)


blp.route("/participants/<id:participant_id>/symptoms")(
    participant_entries_view(
        blp,
        SymptomQueryArgsSchema,
        SymptomReportSchema,
        service.symptoms_query,
        "List a participant's symptom reports, newest first.",
    )
)


@blp.route("/participants/<id:participant_id>/symptoms/<id:report_id>/corrections")
class ParticipantSymptomCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(SymptomReportCorrectionSchema, SymptomReportSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, report_id: int) -> Any:
        """Correct a participant's symptom report, with a reason (a new version; the original stays)."""
        return service.correct_symptom(get_session(), current_actor(), participant_id, report_id, data, utcnow())
