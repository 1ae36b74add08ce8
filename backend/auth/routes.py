"""Sign-in, token refresh, logout, patient activation, activation codes, revocation."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.auth import activation, service
from backend.auth.access import auth_settings, client_address
from backend.auth.schemas import (
    ActivateSchema,
    ActivationCodeSchema,
    ActivationResultSchema,
    RefreshSchema,
    RevokedSchema,
    RevokeSessionsSchema,
    StaffLoginSchema,
    TokenPairSchema,
)
from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor, request_id
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.participants.scope import participant_in_scope
from backend.staff import roles

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in, tokens and patient activation")


@blp.route("/auth/staff/login")
class StaffLogin(MethodView):
    @blp.takes(StaffLoginSchema, TokenPairSchema, 401, 423, 429)
    def post(self, data: dict[str, Any]) -> service.TokenPair:
        """Sign a staff user in with e-mail and password."""
        return service.login_staff(
            get_session(),
            auth_settings(),
            data["email"],
            data["password"],
            client_address(),
            utcnow(),
            request_id(),
        )


@blp.route("/auth/refresh")
class TokenRefresh(MethodView):
    @blp.takes(RefreshSchema, TokenPairSchema, 401)
    def post(self, data: dict[str, Any]) -> service.TokenPair:
        """Exchange a refresh token for a new token pair (the old one stops working)."""
        return service.refresh_tokens(get_session(), auth_settings(), data["refresh_token"], utcnow())


@blp.route("/auth/logout")
class Logout(MethodView):
    @blp.auth()
    @blp.response(204)
    def post(self) -> None:
        """End the current session."""
        service.logout(get_session(), current_actor(), utcnow())


@blp.route("/auth/patient/activate")
class PatientActivation(MethodView):
    @blp.takes(ActivateSchema, ActivationResultSchema, 401, 403, 409, 410, 429, status=201)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Exchange a single-use activation code for a device session."""
        pair, participant = activation.activate_patient(
            get_session(),
            auth_settings(),
            data["code"],
            data["platform"],
            data["app_version"],
            client_address(),
            utcnow(),
            request_id(),
        )
        return {**_pair_dict(pair), "subject_code": participant.subject_code}


def _pair_dict(pair: service.TokenPair) -> dict[str, Any]:
    return {
        "token_type": pair.token_type,
        "access_token": pair.access_token,
        "access_expires_at": pair.access_expires_at,
        "refresh_token": pair.refresh_token,
        "refresh_expires_at": pair.refresh_expires_at,
    }


@blp.route("/participants/<id:participant_id>/activation-codes")
class ActivationCodes(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.response(201, ActivationCodeSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, participant_id: int) -> activation.IssuedCode:
        """Issue a single-use activation code (valid 72 hours) for a participant's app."""
        session = get_session()
        participant = participant_in_scope(session, current_actor(), participant_id)
        return activation.issue_activation_code(session, auth_settings(), current_actor(), participant, utcnow())


@blp.route("/participants/<id:participant_id>/sessions/revoke")
class SessionRevocation(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.takes(RevokeSessionsSchema, RevokedSchema, 404)
    def post(self, data: dict[str, Any], participant_id: int) -> dict[str, int]:
        """Sign out every device of a participant (a lost or replaced phone)."""
        session = get_session()
        participant = participant_in_scope(session, current_actor(), participant_id)
        count = service.revoke_participant_sessions(session, current_actor(), participant, data["reason"], utcnow())
        return {"sessions_revoked": count}
