"""The nurse's queue of flags, and acknowledging one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.core.blueprint import Blueprint
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
    @blp.listing(FlagQueryArgsSchema, FlagSchema)
    def get(self, filters: dict[str, Any]) -> Select[Flag]:
        """List flags at your sites: urgent first, then oldest first (open ones by default)."""
        return service.flags_query(current_actor(), filters)


@blp.route("/flags/<id:flag_id>/acknowledge")
class FlagAcknowledgement(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.takes(AcknowledgeSchema, FlagSchema, 404, 409)
    def post(self, data: dict[str, Any], flag_id: int) -> Flag:
        """Acknowledge a flag with a note (audited)."""
        return service.acknowledge_flag(get_session(), current_actor(), flag_id, data["note"], utcnow())
