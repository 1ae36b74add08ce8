"""Staff read the ledger of sync runs (the runs themselves start from cron: `flask trial-sync run`)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.db import get_session
from backend.staff import roles
from backend.trial_sync import service
from backend.trial_sync.schemas import SyncRunSchema
from backend.trial_sync.target import TrialDatabase

blp = Blueprint("trial_sync", __name__, url_prefix="/api/v1", description="Sync runs into the trial database")


@blp.route("/sync/runs")
class SyncRuns(MethodView):
    @blp.auth(roles.ALL_STAFF)
    @blp.response(200, SyncRunSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[dict[str, Any]]:
        """The sync runs that covered the staff member's study, newest first."""
        trial: TrialDatabase = current_app.extensions["limbtrack_trial_db"]
        runs, total = service.sync_runs(
            get_session(),
            trial.engine,
            current_actor(),
            pagination_parameters.first_item,
            pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return runs
