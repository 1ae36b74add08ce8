"""The portal's pages: HTTP only. Each view checks the sign-in, calls one service (or
gathers a page from several, in pages.py) and renders a template; a refused action shows
the service's message with its status code, as the API would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from markupsafe import Markup
from marshmallow import Schema, ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from backend.auth.access import auth_settings
from backend.auth.activation import IssuedCode, issue_activation_code
from backend.auth.schemas import RevokeSessionsSchema
from backend.auth.service import revoke_participant_sessions
from backend.core.actor import Actor, require_role
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.errors import AuthenticationError, DomainError, ValidationFailed
from backend.flags.schemas import AcknowledgeSchema
from backend.flags.service import acknowledge_flag
from backend.participants.models import Leg
from backend.participants.schemas import ParticipantCreateSchema, StatusChangeSchema
from backend.participants.scope import participant_in_scope
from backend.participants.service import change_status, create_participant
from backend.portal import pages
from backend.portal.session import check_csrf, csrf_token, sign_in, sign_out, signed_in_actor
from backend.staff import roles
from backend.studies.models import Site
from backend.studies.protocol import flatten_errors
from backend.ulcers.models import RejectReason, UlcerPhoto
from backend.ulcers.photos import photo_image, read_photo
from backend.ulcers.review import review_photo, review_queue
from backend.ulcers.schemas import ReviewSchema

blp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates", static_folder="static")


@blp.record_once
def _setup(state: Any) -> None:
    """Texts are marked with _() for translation; English until catalogues exist. The
    session cookie is the portal's alone: HttpOnly, SameSite=Lax, sent only to /portal,
    and Secure outside development and tests. It holds only a token for the sign-in the
    server keeps (service.py), which ends after IDLE_TIMEOUT without a request."""
    app = state.app
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_null_translations(newstyle=True)
    config = app.config["LIMBTRACK"]
    app.config.update(
        SESSION_COOKIE_NAME="limbtrack_portal",
        SESSION_COOKIE_PATH="/portal",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.env not in ("development", "testing"),
        # The cookie's signature may live as long as a staff session; the server ends the
        # sign-in (and the staff session) after IDLE_TIMEOUT without a request.
        PERMANENT_SESSION_LIFETIME=config.staff_refresh_ttl,
    )
    app.session_interface = PortalOnlySession()


class PortalOnlySession(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened for the portal's pages only. The cookie is
    sent only to /portal; the API authenticates each request by its bearer token, and
    building a signer and reading a cookie on every API request cost CPU for nothing.
    Elsewhere the session is Flask's NullSession, which refuses writes."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path != blp.url_prefix and not request.path.startswith(f"{blp.url_prefix}/"):
            return None
        return super().open_session(app, request)


PUBLIC = frozenset({"portal.sign_in", "portal.static"})
MAX_OUTLINE_TEXT = 64 * 1024  # far above MAX_POINTS points; keeps json.loads shallow and cheap


@blp.before_request
def _require_sign_in() -> BaseResponse | None:
    g.now = utcnow()
    if request.method == "POST":
        check_csrf()
    if request.endpoint in PUBLIC:
        return None
    if signed_in_actor(g.now) is None:
        # After signing in, come back to the page; a form cannot be re-sent, so Today.
        back = request.full_path.rstrip("?") if request.method == "GET" else url_for("portal.today")
        return redirect(url_for("portal.sign_in", next=back))
    return None


@blp.after_request
def _no_store(response: Response) -> Response:
    """Pages show health data: never cache them, never frame them."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
    return response


@blp.app_template_global()
def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token())


@blp.app_template_global()
def may(action: str) -> bool:
    """Whether the signed-in role may do `action` (to show only the buttons that work)."""
    allowed = {
        "manage": roles.MANAGE_PARTICIPANTS,
        "withdraw": roles.WITHDRAW_PARTICIPANTS,
    }[action]
    actor: Actor | None = g.get("actor")
    return actor is not None and actor.role in allowed


@blp.errorhandler(DomainError)
def _refused(exc: DomainError) -> tuple[str, int]:
    if isinstance(exc, AuthenticationError) and request.endpoint == "portal.sign_in":
        return render_template("portal/sign_in.html", error=exc.message, next=_safe_next()), exc.status
    # "form.outline: Not JSON." — which field, whichever layer refused it
    lines = flatten_errors(exc.errors) if exc.errors else []
    return render_template("portal/refused.html", message=exc.message, lines=lines), exc.status


def _safe_next() -> str:
    """Only a portal path: an open redirect would let a link send a nurse elsewhere, and
    a control character would break the Location header."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    unsafe = parts.scheme or parts.netloc or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target)
    if unsafe or not target.startswith("/portal/") or target.startswith("//"):
        return url_for("portal.today")
    return target


def _load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Validate form fields with the API's own schema; errors name the field."""
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValidationFailed("Some fields are not valid.", errors={"form": exc.messages}) from None


def _actor() -> Actor:
    return g.actor  # type: ignore[no-any-return]


# ------------------------------------------------------------------ sign-in


@blp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("portal.today"))


@blp.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
def sign_in_page() -> Any:
    if request.method == "GET":
        return render_template("portal/sign_in.html", error=None, next=_safe_next())
    sign_in(request.form.get("email", ""), request.form.get("password", ""), g.now)
    return redirect(_safe_next())


@blp.post("/sign-out")
def sign_out_page() -> BaseResponse:
    sign_out(g.now)
    return redirect(url_for("portal.sign_in"))


# ------------------------------------------------------------------ review work


@blp.get("/today")
def today() -> str:
    return render_template("portal/today.html", page=pages.today(get_session(), _actor()))


@blp.post("/flags/<id:flag_id>/acknowledge")
def acknowledge(flag_id: int) -> BaseResponse:
    require_role(_actor(), roles.MANAGE_PARTICIPANTS)
    data = _load(AcknowledgeSchema(), {"note": request.form.get("note", "")})
    acknowledge_flag(get_session(), _actor(), flag_id, data["note"], g.now)
    return redirect(_safe_next())


@blp.get("/photos/<id:photo_id>")
def photo(photo_id: int) -> str:
    shown = read_photo(get_session(), _actor(), photo_id, g.now)
    analysis = shown.analysis
    return render_template(
        "portal/photo.html",
        photo=shown,
        analysis=analysis,
        next_photo_url=_next_in_queue(exclude=shown.id),
        reject_reasons=[r.value for r in RejectReason],
        geometry=json.dumps(
            {
                "width": shown.width,
                "height": shown.height,
                "outline": (shown.review.outline if shown.review else None) or (analysis.outline if analysis else None),
                "marker": analysis.marker_corners if analysis else None,
                "homography": analysis.homography if analysis else None,
            }
        ),
    )


@blp.get("/photos/<id:photo_id>/image")
def photo_file(photo_id: int) -> Response:
    image = photo_image(
        get_session(), current_app.extensions["limbtrack_photo_store"], _actor(), photo_id, False, g.now
    )
    return send_file(image.stream, mimetype=image.media_type)


@blp.post("/photos/<id:photo_id>/review")
def review(photo_id: int) -> BaseResponse:
    require_role(_actor(), roles.MANAGE_PARTICIPANTS)
    form = request.form
    data: dict[str, Any] = {"decision": form.get("decision", ""), "note": form.get("note") or None}
    if form.get("algorithm_version"):
        data["algorithm_version"] = form["algorithm_version"]
    if data["decision"] == "reject":
        data["reject_reason"] = form.get("reject_reason", "")
    if data["decision"] == "correct":
        text = form.get("outline", "")
        try:
            if len(text) > MAX_OUTLINE_TEXT:
                raise ValueError("too long")
            data["outline"] = json.loads(text or "null")
        except (ValueError, RecursionError):
            raise ValidationFailed(
                "The outline is not valid.", errors={"form": {"outline": ["Send [[x, y], ...] as JSON."]}}
            ) from None
    review_photo(get_session(), _actor(), photo_id, _load(ReviewSchema(), data), g.now)
    return redirect(_next_in_queue(exclude=photo_id))


def _next_in_queue(exclude: int) -> str:
    """The oldest photo still waiting for review (not this one), or Today."""
    query = review_queue(_actor()).where(UlcerPhoto.id != exclude).limit(1)
    following = get_session().scalars(query).first()
    return url_for("portal.photo", photo_id=following.id) if following else url_for("portal.today")


# ------------------------------------------------------------------ participants


@blp.get("/participants")
def participants() -> str:
    return render_template("portal/participants.html", participants=pages.participants(get_session(), _actor()))


@blp.get("/participants/<id:participant_id>")
def participant(participant_id: int) -> str:
    page = pages.participant_page(get_session(), _actor(), participant_id, g.now)
    return render_template("portal/participant.html", **page)


@blp.route("/participants/new", methods=["GET", "POST"])
def enrol() -> Any:
    actor = _actor()
    require_role(actor, roles.MANAGE_PARTICIPANTS)
    study_sites = get_session().scalars(select(Site).where(Site.study_id == actor.study_id).order_by(Site.code))
    sites = [site for site in study_sites if actor.can_reach_site(site.id)]
    if request.method == "GET":
        legs = [leg.value for leg in Leg]
        return render_template("portal/enrol.html", sites=sites, legs=legs, client_uuid=uuid.uuid4())
    values = {
        key: request.form.get(key, "").strip() for key in ParticipantCreateSchema().fields if key != "client_uuid"
    }
    values["client_uuid"] = request.form.get("client_uuid") or str(uuid.uuid4())
    data = _load(ParticipantCreateSchema(), {k: v for k, v in values.items() if v != ""})
    created, _ = create_participant(get_session(), actor, data, g.now)
    return redirect(url_for("portal.participant", participant_id=created.id))


def _status_view(transition: str, allowed: frozenset[Any]) -> Callable[[int], BaseResponse]:
    def view(participant_id: int) -> BaseResponse:
        require_role(_actor(), allowed)
        data = _load(StatusChangeSchema(), {"reason": request.form.get("reason", "")})
        change_status(get_session(), _actor(), participant_id, transition, data["reason"], g.now)
        return redirect(url_for("portal.participant", participant_id=participant_id))

    return view


for _transition, _roles in (
    ("enrol", roles.MANAGE_PARTICIPANTS),
    ("withdraw", roles.WITHDRAW_PARTICIPANTS),
    ("complete", roles.MANAGE_PARTICIPANTS),
):
    blp.add_url_rule(
        f"/participants/<id:participant_id>/status/{_transition}",
        endpoint=f"status_{_transition}",
        view_func=_status_view(_transition, _roles),
        methods=["POST"],
    )


@blp.post("/participants/<id:participant_id>/activation-code")
def activation_code(participant_id: int) -> BaseResponse:
    """Issue a code, then show it on a page of its own (post/redirect/get): reloading the
    page must not issue another code and void the one on screen."""
    require_role(_actor(), roles.MANAGE_PARTICIPANTS)
    db = get_session()
    who = participant_in_scope(db, _actor(), participant_id)
    issued = issue_activation_code(db, auth_settings(), _actor(), who, g.now)
    session["issued_code"] = {"participant": who.id, "code": issued.code, "expires": issued.expires_at.isoformat()}
    return redirect(url_for("portal.show_activation_code", participant_id=who.id))


@blp.get("/participants/<id:participant_id>/activation-code")
def show_activation_code(participant_id: int) -> Any:
    """The code just issued, once; afterwards the participant's page."""
    who = participant_in_scope(get_session(), _actor(), participant_id)
    issued = session.pop("issued_code", None)
    if not issued or issued.get("participant") != who.id:
        return redirect(url_for("portal.participant", participant_id=who.id))
    payload = IssuedCode(issued["code"], datetime.fromisoformat(issued["expires"]), who).qr_payload
    image = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = Markup(image.to_string(encoding="unicode"))  # noqa: S704 (qrcode drew it from our own code)
    return render_template(
        "portal/activation.html",
        participant=who,
        code=issued["code"],
        expires_at=datetime.fromisoformat(issued["expires"]),
        qr=svg,
    )


@blp.post("/participants/<id:participant_id>/revoke-sessions")
def revoke_sessions(participant_id: int) -> BaseResponse:
    require_role(_actor(), roles.MANAGE_PARTICIPANTS)
    data = _load(RevokeSessionsSchema(), {"reason": request.form.get("reason", "")})
    db = get_session()
    who = participant_in_scope(db, _actor(), participant_id)
    revoke_participant_sessions(db, _actor(), who, data["reason"], g.now)
    return redirect(url_for("portal.participant", participant_id=participant_id))
