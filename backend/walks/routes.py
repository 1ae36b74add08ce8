"""The patient's walk tests (/me/walk-tests) and the staff view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.entries.views import own_entries_view, participant_entries_view
from backend.staff import roles
from backend.walks import service
from backend.walks.schemas import (
    WalkTestCorrectionSchema,
    WalkTestCreateSchema,
    WalkTestQueryArgsSchema,
    WalkTestSchema,
)

blp = Blueprint("walks", __name__, url_prefix="/api/v1", description="Six-minute walk tests")


blp.route("/me/walk-tests")(
    own_entries_view(
        blp,
        (WalkTestQueryArgsSchema, WalkTestCreateSchema, WalkTestSchema),
        service.walk_tests_query,
        service.record_walk_test,
        ("List your own walk tests, newest first.", "Record a six-minute walk test."),
    )
)


blp.route("/participants/<id:participant_id>/walk-tests")(
    participant_entries_view(
        blp,
        WalkTestQueryArgsSchema,
        WalkTestSchema,
        service.walk_tests_query,
        "List a participant's walk tests, newest first.",
    )
)


@blp.route("/participants/<id:participant_id>/walk-tests/<id:walk_id>/corrections")
class ParticipantWalkTestCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(WalkTestCorrectionSchema, WalkTestSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, walk_id: int) -> Any:
        """Correct a participant's walk test, with a reason (a new version; the original stays)."""
        return service.correct_walk_test(get_session(), current_actor(), participant_id, walk_id, data, utcnow())
