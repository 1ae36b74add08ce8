"""The patient's walk tests (/me/walk-tests) and the staff view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.auth import policy
from backend.auth.access import current_actor
from backend.core.blueprint import Blueprint
from backend.core.pagination import paginate_query
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.walks import service
from backend.walks.models import WalkTest
from backend.walks.schemas import (
    WalkTestCorrectionSchema,
    WalkTestCreateSchema,
    WalkTestQueryArgsSchema,
    WalkTestSchema,
)

blp = Blueprint("walks", __name__, url_prefix="/api/v1", description="Six-minute walk tests")


@blp.route("/me/walk-tests")
class OwnWalkTests(MethodView):
    @blp.auth(patient=True)
    @blp.arguments(WalkTestQueryArgsSchema, location="query")
    @blp.response(200, WalkTestSchema(many=True))
    @blp.paginate()
    def get(self, filters: dict[str, Any], pagination_parameters: Any) -> list[WalkTest]:
        """List your own walk tests, newest first."""
        actor = current_actor()
        assert actor.participant_id is not None
        query = service.walk_tests_query(get_session(), actor, actor.participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)

    @blp.auth(patient=True)
    @blp.arguments(WalkTestCreateSchema)
    @blp.response(201, WalkTestSchema)
    @blp.alt_response(200, schema=WalkTestSchema, description="A replay of an earlier create (same client_uuid)")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any]) -> Any:
        """Record a six-minute walk test."""
        walk, created = service.record_walk_test(get_session(), current_actor(), data, utcnow())
        return walk if created else (walk, 200)


@blp.route("/participants/<id:participant_id>/walk-tests")
class ParticipantWalkTests(MethodView):
    @blp.auth(policy.READ_PARTICIPANTS)
    @blp.arguments(WalkTestQueryArgsSchema, location="query")
    @blp.response(200, WalkTestSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate()
    def get(self, filters: dict[str, Any], participant_id: int, pagination_parameters: Any) -> list[WalkTest]:
        """List a participant's walk tests, newest first."""
        query = service.walk_tests_query(get_session(), current_actor(), participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)


@blp.route("/participants/<id:participant_id>/walk-tests/<id:walk_id>/corrections")
class ParticipantWalkTestCorrections(MethodView):
    @blp.auth(policy.MANAGE_PARTICIPANTS)
    @blp.arguments(WalkTestCorrectionSchema)
    @blp.response(201, WalkTestSchema)
    @blp.alt_response(200, schema=WalkTestSchema, description="A replay of an earlier correction (same client_uuid)")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], participant_id: int, walk_id: int) -> Any:
        """Correct a participant's walk test, with a reason (a new version; the original stays)."""
        walk, created = service.correct_walk_test(
            get_session(), current_actor(), participant_id, walk_id, data, utcnow()
        )
        return walk if created else (walk, 200)
