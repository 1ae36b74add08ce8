"""Staff sign-in: e-mail + password → a short-lived access token and a rotating refresh token."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.staff.models import StaffUser
from backend.staff.service import disable_staff
from tests.auth.helpers import (
    PARTICIPANTS,
    assert_error,
    assert_unauthenticated,
    login,
    parse_time,
    refresh,
)
from tests.factories import PASSWORD, Factory, bearer


def test_login_returns_a_bearer_pair_with_15_minute_access_and_12_hour_refresh(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    response = login(client, nurse.email, PASSWORD)

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"token_type", "access_token", "access_expires_at", "refresh_token", "refresh_expires_at"}
    assert body["token_type"] == "Bearer"
    # T0 is 2026-03-02 09:00 UTC: access lasts 15 minutes, the staff refresh chain 12 hours.
    assert parse_time(body["access_expires_at"]) == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert parse_time(body["refresh_expires_at"]) == datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    assert body["access_token"] != body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_access_token_opens_a_staff_route(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    tokens = make.login(nurse)

    assert client.get(PARTICIPANTS, headers=bearer(tokens["access_token"])).status_code == 200


def test_password_is_stored_as_an_argon2id_hash_only(db: Session, nurse: StaffUser) -> None:
    stored = db.scalar(
        select(StaffUser.password_hash).where(StaffUser.id == nurse.id).execution_options(populate_existing=True)
    )

    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert "correct" not in stored and "staple" not in stored


def test_email_is_case_insensitive(client: FlaskClient, make: Factory) -> None:
    user = make.staff("nurse", email="Mina.Rahimi@Clinic.Example")

    assert user.email == "mina.rahimi@clinic.example"
    assert login(client, "MINA.RAHIMI@CLINIC.EXAMPLE", PASSWORD).status_code == 200
    assert login(client, "mina.rahimi@clinic.example", PASSWORD).status_code == 200
    assert login(client, "Mina.Rahimi@clinic.EXAMPLE", PASSWORD).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(client: FlaskClient, nurse: StaffUser) -> None:
    wrong_password = assert_error(login(client, nurse.email, "not the password at all"), 401, "unauthenticated")
    unknown_email = assert_error(login(client, "nobody@site.example", PASSWORD), 401, "unauthenticated")

    # Nothing tells an attacker which e-mails have accounts.
    assert wrong_password["message"] == unknown_email["message"]


def test_login_without_fields_is_422_naming_each_field(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/staff/login", json={})

    body = assert_error(response, 422)
    assert set(body["errors"]["json"]) == {"email", "password"}


def test_login_with_an_unknown_field_is_422(client: FlaskClient, nurse: StaffUser) -> None:
    response = client.post(
        "/api/v1/auth/staff/login", json={"email": nurse.email, "password": PASSWORD, "role": "admin"}
    )

    body = assert_error(response, 422)
    assert "role" in body["errors"]["json"]


def test_disabling_an_account_ends_its_sessions_and_blocks_login(
    client: FlaskClient, db: Session, make: Factory, nurse: StaffUser
) -> None:
    first, second = make.login(nurse), make.login(nurse)

    ended = disable_staff(db, Actor.system("test"), nurse.email, "left the study team", utcnow())

    assert ended == 2
    for tokens in (first, second):
        assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(tokens["access_token"])))
        assert_error(refresh(client, tokens["refresh_token"]), 401, "unauthenticated")
    assert_error(login(client, nurse.email, PASSWORD), 401, "unauthenticated")


def test_disabling_one_account_leaves_other_staff_signed_in(
    client: FlaskClient, db: Session, make: Factory, nurse: StaffUser
) -> None:
    colleague = make.staff("nurse")
    colleague_tokens = make.login(colleague)
    make.login(nurse)

    disable_staff(db, Actor.system("test"), nurse.email, "left the study team", utcnow())

    assert client.get(PARTICIPANTS, headers=bearer(colleague_tokens["access_token"])).status_code == 200


def test_a_wrong_method_gets_405_in_the_envelope(client: FlaskClient) -> None:
    response = client.get("/api/v1/auth/staff/login")

    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_a_body_that_is_not_json_is_refused_in_the_envelope(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/staff/login",
        data="email=a@b.example&password=x",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code in (400, 415, 422)
    assert_error(response, response.status_code)
