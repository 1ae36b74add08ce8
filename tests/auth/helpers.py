"""Routes, a fixed instant and assertions shared by the authentication tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import T0 as T0

LOGIN = "/api/v1/auth/staff/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ACTIVATE = "/api/v1/auth/patient/activate"
ME = "/api/v1/me"  # the patient app's own profile: a route any patient token may call
PARTICIPANTS = "/api/v1/participants"  # a route any staff token may call


ENVELOPE_KEYS = {"code", "status", "message", "request_id"}


def assert_error(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is `status` with the one error envelope; returns the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ENVELOPE_KEYS <= set(body) <= ENVELOPE_KEYS | {"errors"}, body
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] and body["request_id"] == response.headers["X-Request-ID"]
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_unauthenticated(response: TestResponse) -> dict[str, Any]:
    """401 in the envelope with a Bearer challenge."""
    body = assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return body


def retry_after(response: TestResponse) -> int:
    """The Retry-After header as whole seconds (it must be a positive integer)."""
    value = response.headers["Retry-After"]
    assert value.isdigit(), value
    seconds = int(value)
    assert seconds > 0
    return seconds


def login(client: FlaskClient, email: str, password: str, address: str | None = None) -> TestResponse:
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post(LOGIN, json={"email": email, "password": password}, environ_base=environ)


def refresh(client: FlaskClient, refresh_token: str) -> TestResponse:
    return client.post(REFRESH, json={"refresh_token": refresh_token})


def activate(client: FlaskClient, code: str, address: str | None = None) -> TestResponse:
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post(ACTIVATE, json={"code": code, "platform": "android"}, environ_base=environ)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
