"""The patient's symptom reports (/me/symptoms) and the staff view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor, current_participant_id
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.staff import roles
from backend.symptoms import service
from backend.symptoms.models import SymptomReport
from backend.symptoms.schemas import (
    SymptomQueryArgsSchema,
    SymptomReportCorrectionSchema,
    SymptomReportCreateSchema,
    SymptomReportSchema,
)

blp = Blueprint("symptoms", __name__, url_prefix="/api/v1", description="Symptom and adverse-event reports")


@blp.route("/me/symptoms")
class OwnSymptomReports(MethodView):
    @blp.auth(patient=True)
    @blp.listing(SymptomQueryArgsSchema, SymptomReportSchema)
    def get(self, filters: dict[str, Any]) -> Select[SymptomReport]:
        """List your own symptom reports, newest first."""
        return service.symptoms_query(get_session(), current_actor(), current_participant_id(), filters, utcnow())

    @blp.auth(patient=True)
    @blp.creates(SymptomReportCreateSchema, SymptomReportSchema, 423)
    def post(self, data: dict[str, Any]) -> Any:
        """Report a symptom; the study nurse is told (at once for severe ones)."""
        return service.record_symptom(get_session(), current_actor(), data, utcnow())


@blp.route("/participants/<id:participant_id>/symptoms")
class ParticipantSymptomReports(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(SymptomQueryArgsSchema, SymptomReportSchema, 404)
    def get(self, filters: dict[str, Any], participant_id: int) -> Select[SymptomReport]:
        """List a participant's symptom reports, newest first."""
        return service.symptoms_query(get_session(), current_actor(), participant_id, filters, utcnow())


@blp.route("/participants/<id:participant_id>/symptoms/<id:report_id>/corrections")
class ParticipantSymptomCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(SymptomReportCorrectionSchema, SymptomReportSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, report_id: int) -> Any:
        """Correct a participant's symptom report, with a reason (a new version; the original stays)."""
        return service.correct_symptom(get_session(), current_actor(), participant_id, report_id, data, utcnow())
