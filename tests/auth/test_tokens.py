"""Opaque bearer tokens: strength, expiry, rotation, reuse detection, logout, storage."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.auth.models import AuthToken
from backend.db import Base
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.auth.helpers import (
    LOGOUT,
    ME,
    PARTICIPANTS,
    assert_error,
    assert_unauthenticated,
    refresh,
)
from tests.factories import Factory, bearer

URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")


# --- what a token is -------------------------------------------------------------------


def test_tokens_are_opaque_random_strings_of_at_least_128_bits(make: Factory, nurse: StaffUser) -> None:
    first, second = make.login(nurse), make.login(nurse)

    for tokens in (first, second):
        access, refresh_token = tokens["access_token"], tokens["refresh_token"]
        assert access.startswith("lta_") and refresh_token.startswith("ltr_")
        for token in (access[4:], refresh_token[4:]):
            # URL-safe base64: 6 bits a character, so 128 bits need at least 22 characters.
            assert URLSAFE.match(token)
            assert len(token) >= 22
        assert access.count(".") == 0  # not a JWT: nothing to decode, nothing to forge offline
    tokens = {first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]}
    assert len(tokens) == 4


def test_the_database_keeps_no_raw_token(
    client: FlaskClient, db: Session, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    staff = make.login(nurse)
    rotated = refresh(client, staff["refresh_token"]).json
    patient = make.activate(participant)
    raw = [
        staff["access_token"],
        staff["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        patient["access_token"],
        patient["refresh_token"],
    ]

    hashes = set(db.scalars(select(AuthToken.token_hash)))
    assert len(hashes) == 6
    for token in raw:
        assert token not in hashes
        assert hashlib.sha256(token.encode()).hexdigest() not in hashes  # keyed, not a plain digest
    for token_hash in hashes:
        assert re.fullmatch(r"[0-9a-f]{64}", token_hash)
    # Nowhere else either: not in sessions, audit rows or anything else.
    dump = " ".join(
        str(row) for table in Base.metadata.sorted_tables for row in db.execute(text(f'SELECT * FROM "{table.name}"'))
    )
    for token in raw:
        assert token not in dump
        assert token[4:] not in dump


# --- refusals --------------------------------------------------------------------------


def test_missing_authorization_is_401_with_a_challenge(client: FlaskClient) -> None:
    assert_unauthenticated(client.get(PARTICIPANTS))


def test_a_non_bearer_scheme_is_401(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    access = make.login(nurse)["access_token"]

    assert_unauthenticated(client.get(PARTICIPANTS, headers={"Authorization": f"Basic {access}"}))
    assert_unauthenticated(client.get(PARTICIPANTS, headers={"Authorization": "Bearer "}))


def test_a_forged_token_is_401(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    real = make.login(nurse)["access_token"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")

    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(forged)))
    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer("lta_" + "A" * 43)))
    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOjF9.")))


def test_a_refresh_token_is_not_an_access_token(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    tokens = make.login(nurse)

    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(tokens["refresh_token"])))


def test_an_access_token_is_not_a_refresh_token(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    tokens = make.login(nurse)

    assert_error(refresh(client, tokens["access_token"]), 401, "unauthenticated")


def test_access_token_expires_after_15_minutes(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    access = make.login(nurse)["access_token"]

    clock.shift(timedelta(minutes=14, seconds=59))
    assert client.get(PARTICIPANTS, headers=bearer(access)).status_code == 200

    clock.shift(timedelta(seconds=2))  # 15 min 1 s after sign-in
    body = assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(access)))
    assert set(body) == {"code", "status", "message", "request_id"}


def test_refresh_still_works_after_the_access_token_expired(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    tokens = make.login(nurse)
    clock.shift(timedelta(hours=2))

    response = refresh(client, tokens["refresh_token"])

    assert response.status_code == 200, response.json
    assert client.get(PARTICIPANTS, headers=bearer(response.json["access_token"])).status_code == 200


def test_staff_refresh_token_expires_after_12_hours(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    tokens = make.login(nurse)
    clock.shift(timedelta(hours=12, seconds=1))

    assert_error(refresh(client, tokens["refresh_token"]), 401, "unauthenticated")


def test_rotation_does_not_extend_the_staff_session_past_12_hours(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    refresh_token = make.login(nurse)["refresh_token"]
    # Rotate at 4 h, 8 h and 11 h 59 min after sign-in.
    for step in (timedelta(hours=4), timedelta(hours=4), timedelta(hours=3, minutes=59)):
        clock.shift(step)
        response = refresh(client, refresh_token)
        assert response.status_code == 200, response.json
        refresh_token = response.json["refresh_token"]
    access = response.json["access_token"]

    clock.shift(timedelta(minutes=1, seconds=1))  # 12 h 0 min 1 s after sign-in
    assert_error(refresh(client, refresh_token), 401, "unauthenticated")
    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(access)))


# --- rotation and reuse ----------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_stops_working(
    client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    old = make.login(nurse)

    response = refresh(client, old["refresh_token"])

    assert response.status_code == 200, response.json
    new = response.json
    assert new["token_type"] == "Bearer"
    assert new["refresh_token"] != old["refresh_token"] and new["access_token"] != old["access_token"]
    assert client.get(PARTICIPANTS, headers=bearer(new["access_token"])).status_code == 200
    assert_error(refresh(client, old["refresh_token"]), 401, "unauthenticated")


def test_reusing_a_used_refresh_token_ends_the_whole_session(
    client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    first = make.login(nurse)
    second = refresh(client, first["refresh_token"]).json
    third = refresh(client, second["refresh_token"]).json

    # Someone replays the first refresh token: it was stolen, so the whole chain ends.
    assert_error(refresh(client, first["refresh_token"]), 401, "unauthenticated")

    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(third["access_token"])))
    assert_error(refresh(client, third["refresh_token"]), 401, "unauthenticated")


def test_reuse_in_one_session_leaves_the_users_other_sessions_alone(
    client: FlaskClient, make: Factory, nurse: StaffUser
) -> None:
    laptop = make.login(nurse)
    tablet = make.login(nurse)
    refresh(client, laptop["refresh_token"])

    assert_error(refresh(client, laptop["refresh_token"]), 401, "unauthenticated")

    assert client.get(PARTICIPANTS, headers=bearer(tablet["access_token"])).status_code == 200
    assert refresh(client, tablet["refresh_token"]).status_code == 200


def test_refresh_with_a_made_up_token_is_401(client: FlaskClient) -> None:
    assert_error(refresh(client, "ltr_" + "Z" * 43), 401, "unauthenticated")


def test_refresh_without_a_token_is_422(client: FlaskClient) -> None:
    body = assert_error(client.post("/api/v1/auth/refresh", json={}), 422)
    assert "refresh_token" in body["errors"]["json"]


def test_patient_tokens_rotate_too(client: FlaskClient, make: Factory, participant: Participant) -> None:
    old = make.activate(participant)

    response = refresh(client, old["refresh_token"])

    assert response.status_code == 200, response.json
    assert client.get(ME, headers=bearer(response.json["access_token"])).json["subject_code"] == (
        participant.subject_code
    )
    assert_error(refresh(client, old["refresh_token"]), 401, "unauthenticated")


# --- logout ----------------------------------------------------------------------------


def test_logout_revokes_access_and_refresh(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    tokens = make.login(nurse)

    response = client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_unauthenticated(client.get(PARTICIPANTS, headers=bearer(tokens["access_token"])))
    assert_error(refresh(client, tokens["refresh_token"]), 401, "unauthenticated")


def test_logout_ends_only_the_current_session(client: FlaskClient, make: Factory, nurse: StaffUser) -> None:
    laptop, tablet = make.login(nurse), make.login(nurse)

    client.post(LOGOUT, headers=bearer(laptop["access_token"]))

    assert client.get(PARTICIPANTS, headers=bearer(tablet["access_token"])).status_code == 200


def test_patient_logout_signs_the_device_out(client: FlaskClient, make: Factory, participant: Participant) -> None:
    tokens = make.activate(participant)

    assert client.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204

    assert_unauthenticated(client.get(ME, headers=bearer(tokens["access_token"])))
    assert_error(refresh(client, tokens["refresh_token"]), 401, "unauthenticated")


def test_logout_without_a_token_is_401(client: FlaskClient) -> None:
    assert_unauthenticated(client.post(LOGOUT))
