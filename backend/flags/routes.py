"""The nurse's queue of flags, and acknowledging one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.core.blueprint import Blueprint
from backend.core.pagination import paginate_query
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.flags import service
from backend.flags.models import Flag
from backend.flags.schemas import AcknowledgeSchema, FlagQueryArgsSchema, FlagSchema
from backend.staff import roles

blp = Blueprint("flags", __name__, url_prefix="/api/v1", description="The nurse's flag queue")


@blp.route("/flags")
class Flags(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.arguments(FlagQueryArgsSchema, location="query")
    @blp.response(200, FlagSchema(many=True))
    @blp.paginate()
    def get(self, filters: dict[str, Any], pagination_parameters: Any) -> list[Flag]:
        """List flags at your sites: urgent first, then oldest first (open ones by default)."""
        return paginate_query(get_session(), service.flags_query(current_actor(), filters), pagination_parameters)


@blp.route("/flags/<id:flag_id>/acknowledge")
class FlagAcknowledgement(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.arguments(AcknowledgeSchema)
    @blp.response(200, FlagSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], flag_id: int) -> Flag:
        """Acknowledge a flag with a note (audited)."""
        return service.acknowledge_flag(get_session(), current_actor(), flag_id, data["note"], utcnow())
