"""`POST /me/sync`: what an offline app sends when it reconnects."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.mobile_sync import service
from backend.mobile_sync.schemas import SyncBatchSchema, SyncResultSchema

blp = Blueprint("mobile_sync", __name__, url_prefix="/api/v1", description="Offline batch upload")


@blp.route("/me/sync")
class OwnSync(MethodView):
    @blp.auth(patient=True)
    @blp.arguments(SyncBatchSchema)
    @blp.response(200, SyncResultSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Send up to 500 entries recorded offline; each gets created, duplicate or refused."""
        return service.sync_entries(get_session(), current_actor(), data["items"], utcnow())
