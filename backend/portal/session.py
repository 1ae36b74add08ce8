"""The portal's cookie: a random sign-in token (the sign-in itself lives on the server,
see service.py) and the CSRF token every form posts back. Flask's signed session holds
both; it is HttpOnly, SameSite=Lax, Secure outside development, and sent only to /portal.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from flask import g, request, session

from backend.auth.access import auth_settings, client_address
from backend.core.actor import Actor
from backend.db import get_session
from backend.errors import DomainError
from backend.portal.service import end_portal_session, open_portal_session, resume_portal_session


class CsrfFailed(DomainError):
    status = 400
    code = "csrf_failed"


def sign_in(email: str, password: str, now: datetime) -> None:
    """Open a portal sign-in (ending one this browser had) and start a fresh cookie: a
    new CSRF token too, so nothing of the page before signing in carries over."""
    token = open_portal_session(
        get_session(), auth_settings(), email, password, client_address(), now, g.get("request_id"), session.get("sid")
    )
    session.clear()
    session.update(sid=token, csrf=secrets.token_urlsafe(32))


def signed_in_actor(now: datetime) -> Actor | None:
    """The staff member of this cookie's sign-in, or None."""
    token = session.get("sid")
    if not token:
        return None
    actor = resume_portal_session(get_session(), auth_settings(), str(token), now, g.get("request_id"))
    if actor is None:
        session.clear()
        return None
    g.actor = actor
    return actor


def sign_out(now: datetime) -> None:
    """End the sign-in and the staff session behind it; forget the cookie."""
    token = session.get("sid")
    if token:
        end_portal_session(get_session(), auth_settings(), str(token), "logout", now)
    session.clear()


def csrf_token() -> str:
    """The token every form of this session posts back."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf() -> None:
    """Refuse a form that did not come from a page of this session."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        raise CsrfFailed("The form has expired or did not come from this portal; reload the page and try again.")
