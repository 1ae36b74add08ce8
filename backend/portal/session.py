"""Portal sign-in: the API's staff session behind an HttpOnly cookie, with an idle
timeout and a CSRF token for every form.

The cookie (Flask's signed session, path /portal) carries the staff session's access and
refresh tokens, so signing out, disabling an account or revoking sessions works exactly
as for the API; an expired access token is refreshed, and a portal left alone for
IDLE_TIMEOUT signs out.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from flask import g, request, session

from backend.auth.access import auth_settings, client_address
from backend.auth.service import authenticate_access_token, end_staff_session_of, login_staff, refresh_tokens
from backend.core.actor import Actor
from backend.db import get_session
from backend.errors import AuthenticationError, DomainError

IDLE_TIMEOUT = timedelta(minutes=30)


class CsrfFailed(DomainError):
    status = 400
    code = "csrf_failed"


def sign_in(email: str, password: str, now: datetime) -> None:
    """Check the password (throttled, audited) and start the portal session."""
    pair = login_staff(get_session(), auth_settings(), email, password, client_address(), now, g.get("request_id"))
    session.clear()
    session.update(access=pair.access_token, refresh=pair.refresh_token, seen=now.timestamp())
    session["csrf"] = secrets.token_urlsafe(32)


def signed_in_actor(now: datetime) -> Actor | None:
    """The staff member of this cookie, or None (never signed in, idle too long, or the
    session was ended elsewhere)."""
    access = session.get("access")
    if not access:
        return None
    seen = session.get("seen", 0.0)
    if now.timestamp() - float(seen) > IDLE_TIMEOUT.total_seconds():
        sign_out(now, reason="idle_timeout")
        return None
    db = get_session()
    try:
        actor = authenticate_access_token(db, auth_settings(), access, now, g.get("request_id"))
    except AuthenticationError:
        try:
            pair = refresh_tokens(db, auth_settings(), session.get("refresh", ""), now)
        except AuthenticationError:
            session.clear()
            return None
        session.update(access=pair.access_token, refresh=pair.refresh_token)
        actor = authenticate_access_token(db, auth_settings(), pair.access_token, now, g.get("request_id"))
    session["seen"] = now.timestamp()
    g.actor = actor
    return actor


def sign_out(now: datetime, reason: str = "logout") -> None:
    """End the staff session (its tokens stop working) and forget the cookie."""
    refresh = session.get("refresh")
    if refresh:
        end_staff_session_of(get_session(), auth_settings(), refresh, reason, now)
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
