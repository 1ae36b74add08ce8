"""Turn the request's bearer token into an Actor and keep it for the request."""

from __future__ import annotations

from flask import current_app, g, request

from backend.auth.service import AuthSettings, authenticate_access_token
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.errors import AuthenticationError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="limbtrack"'}


def auth_settings() -> AuthSettings:
    return current_app.extensions["limbtrack_auth"]  # type: ignore[no-any-return]


def authenticate_request() -> Actor:
    """Resolve `Authorization: Bearer …` or refuse with 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("Send an access token: 'Authorization: Bearer <token>'.", headers=CHALLENGE)
    try:
        actor = authenticate_access_token(get_session(), auth_settings(), token, utcnow(), g.get("request_id"))
    except AuthenticationError as exc:
        exc.headers.update(CHALLENGE)
        raise
    g.actor = actor
    return actor


def client_address() -> str:
    """The caller's address (ProxyFix has applied trusted X-Forwarded-For already)."""
    return request.remote_addr or "unknown"
