"""The patient app's home screen."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.tasks import service
from backend.tasks.schemas import SummarySchema, TasksSchema

blp = Blueprint("tasks", __name__, url_prefix="/api/v1", description="What is due, and own trends")


@blp.route("/me/tasks")
class OwnTasks(MethodView):
    @blp.auth(patient=True)
    @blp.response(200, TasksSchema)
    def get(self) -> dict[str, Any]:
        """List today's tasks in your local time: due, done, missed, and the next visit."""
        return service.due_tasks(get_session(), current_actor(), utcnow())


@blp.route("/me/summary")
class OwnSummary(MethodView):
    @blp.auth(patient=True)
    @blp.response(200, SummarySchema)
    def get(self) -> dict[str, Any]:
        """Read your last 7 days of rest pain and your latest walk distances."""
        return service.own_summary(get_session(), current_actor(), utcnow())
