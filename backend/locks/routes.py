"""Admins freeze, lock and release a participant's data; staff of the site read the locks."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.schemas import ReasonSchema
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.locks import service
from backend.locks.models import DataLock
from backend.locks.schemas import DataLockCreateSchema, DataLockQueryArgsSchema, DataLockSchema
from backend.staff import roles

blp = Blueprint("locks", __name__, url_prefix="/api/v1", description="Freeze and lock of participant data (close-out)")


@blp.route("/participants/<id:participant_id>/locks")
class ParticipantLocks(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(DataLockQueryArgsSchema, DataLockSchema, 404)
    def get(self, filters: dict[str, Any], participant_id: int) -> Select[DataLock]:
        """List a participant's freezes and locks, newest first (released ones too unless asked)."""
        return service.locks_query(get_session(), current_actor(), participant_id, filters, utcnow())

    @blp.auth(roles.MANAGE_LOCKS)
    @blp.takes(DataLockCreateSchema, DataLockSchema, 404, 409, status=201)
    def post(self, data: dict[str, Any], participant_id: int) -> DataLock:
        """Freeze or lock a participant's data, or one visit's, with a reason (audited)."""
        return service.set_lock(get_session(), current_actor(), participant_id, data, utcnow())


@blp.route("/participants/<id:participant_id>/locks/<id:lock_id>/release")
class ParticipantLockRelease(MethodView):
    @blp.auth(roles.MANAGE_LOCKS)
    @blp.takes(ReasonSchema, DataLockSchema, 404, 409)
    def post(self, data: dict[str, Any], participant_id: int, lock_id: int) -> DataLock:
        """Release an active freeze or lock, with a reason (audited); it stays in the history."""
        return service.release_lock(get_session(), current_actor(), participant_id, lock_id, data["reason"], utcnow())
