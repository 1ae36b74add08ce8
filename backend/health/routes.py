"""`/healthz` says the process answers; `/readyz` says it can reach its database."""

from __future__ import annotations

import logging

from flask.views import MethodView
from marshmallow import fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.core.blueprint import Blueprint
from backend.core.schemas import BaseSchema
from backend.db import get_session
from backend.errors import DomainError

log = logging.getLogger(__name__)

blp = Blueprint("health", __name__, description="Health and readiness probes")


class HealthSchema(BaseSchema):
    status = fields.String(dump_only=True, metadata={"example": "ok"})


class NotReady(DomainError):
    status = 503
    code = "not_ready"


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, str]:
        """Tell a load balancer the process is alive."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readiness(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self) -> dict[str, str]:
        """Tell a load balancer the database answers."""
        try:
            get_session().execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("readiness check failed: %s", type(exc).__name__)
            raise NotReady("The database is not reachable.") from exc
        return {"status": "ok"}
