"""The patient's symptom reports (/me/symptoms) and the staff view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.auth import policy
from backend.auth.access import current_actor
from backend.core.blueprint import Blueprint
from backend.core.pagination import paginate_query
from backend.core.timeutil import utcnow
from backend.db import get_session
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
    @blp.arguments(SymptomQueryArgsSchema, location="query")
    @blp.response(200, SymptomReportSchema(many=True))
    @blp.paginate()
    def get(self, filters: dict[str, Any], pagination_parameters: Any) -> list[SymptomReport]:
        """List your own symptom reports, newest first."""
        actor = current_actor()
        assert actor.participant_id is not None
        query = service.symptoms_query(get_session(), actor, actor.participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)

    @blp.auth(patient=True)
    @blp.arguments(SymptomReportCreateSchema)
    @blp.response(201, SymptomReportSchema)
    @blp.alt_response(200, schema=SymptomReportSchema, description="A replay of an earlier create (same client_uuid)")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any]) -> Any:
        """Report a symptom; the study nurse is told (at once for severe ones)."""
        report, created = service.record_symptom(get_session(), current_actor(), data, utcnow())
        return report if created else (report, 200)


@blp.route("/participants/<id:participant_id>/symptoms")
class ParticipantSymptomReports(MethodView):
    @blp.auth(policy.READ_PARTICIPANTS)
    @blp.arguments(SymptomQueryArgsSchema, location="query")
    @blp.response(200, SymptomReportSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate()
    def get(self, filters: dict[str, Any], participant_id: int, pagination_parameters: Any) -> list[SymptomReport]:
        """List a participant's symptom reports, newest first."""
        query = service.symptoms_query(get_session(), current_actor(), participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)


@blp.route("/participants/<id:participant_id>/symptoms/<id:report_id>/corrections")
class ParticipantSymptomCorrections(MethodView):
    @blp.auth(policy.MANAGE_PARTICIPANTS)
    @blp.arguments(SymptomReportCorrectionSchema)
    @blp.response(201, SymptomReportSchema)
    @blp.alt_response(
        200, schema=SymptomReportSchema, description="A replay of an earlier correction (same client_uuid)"
    )
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], participant_id: int, report_id: int) -> Any:
        """Correct a participant's symptom report, with a reason (a new version; the original stays)."""
        report, created = service.correct_symptom(
            get_session(), current_actor(), participant_id, report_id, data, utcnow()
        )
        return report if created else (report, 200)
