"""The audit trail of one participant, for staff."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.audit import service
from backend.audit.schemas import AuditEventSchema
from backend.auth import policy
from backend.auth.access import current_actor
from backend.core.blueprint import Blueprint
from backend.core.pagination import paginate_query
from backend.core.timeutil import utcnow
from backend.db import get_session

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail")


@blp.route("/participants/<id:participant_id>/audit")
class ParticipantAudit(MethodView):
    @blp.auth(policy.READ_PARTICIPANTS)
    @blp.response(200, AuditEventSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate()
    def get(self, participant_id: int, pagination_parameters: Any) -> list[Any]:
        """Read the audit trail of one participant, oldest first."""
        session = get_session()
        query = service.participant_audit_query(session, current_actor(), participant_id, utcnow())
        return paginate_query(session, query, pagination_parameters)
