"""Patient devices: single-use activation codes from the nurse, device sessions, revocation."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime, timedelta

import time_machine
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.models import ActivationCode
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.auth.helpers import (
    ACTIVATE,
    ME,
    activate,
    assert_error,
    assert_unauthenticated,
    parse_time,
    refresh,
)
from tests.factories import Factory, bearer

CODE_FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def codes_url(participant: Participant) -> str:
    return f"/api/v1/participants/{participant.id}/activation-codes"


def issue(client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant) -> str:
    response = client.post(codes_url(participant), headers=make.staff_headers(nurse))
    assert response.status_code == 201, response.json
    return response.json["code"]  # type: ignore[no-any-return]


# --- issuing codes ---------------------------------------------------------------------


def test_nurse_issues_a_code_valid_72_hours_with_a_qr_png(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    response = client.post(codes_url(participant), headers=make.staff_headers(nurse))

    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"code", "expires_at", "qr_payload", "qr_png_base64"}
    assert CODE_FORMAT.match(body["code"]), body["code"]
    # Issued at T0 = 2026-03-02 09:00 UTC; 72 hours later is 2026-03-05 09:00 UTC.
    assert parse_time(body["expires_at"]) == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert body["qr_payload"] == f"limbtrack://activate?code={body['code']}"
    png = base64.b64decode(body["qr_png_base64"], validate=True)
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width == height and width >= 21  # a QR code is square; version 1 is 21 modules
        image.verify()


def test_the_code_is_stored_only_as_a_keyed_hash(
    client: FlaskClient, db: Session, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    code = issue(client, make, nurse, participant)

    stored = db.scalars(select(ActivationCode.code_hash).where(ActivationCode.participant_id == participant.id)).all()
    assert len(stored) == 1
    assert re.fullmatch(r"[0-9a-f]{64}", stored[0])
    assert code.replace("-", "") not in stored[0] and code not in stored[0]


def test_a_nurse_of_another_site_cannot_issue_a_code(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    other_site_nurse = make.staff("nurse", sites=("TEH-02",))

    response = client.post(codes_url(participant), headers=make.staff_headers(other_site_nurse))

    assert_error(response, 404, "not_found")


def test_a_monitor_cannot_issue_a_code(client: FlaskClient, make: Factory, participant: Participant) -> None:
    monitor = make.staff("monitor")

    assert_error(client.post(codes_url(participant), headers=make.staff_headers(monitor)), 403, "forbidden")


def test_a_patient_cannot_issue_codes(client: FlaskClient, make: Factory, participant: Participant) -> None:
    headers = make.patient_headers(participant)

    assert_error(client.post(codes_url(participant), headers=headers), 403, "forbidden")


def test_issuing_a_code_needs_a_token(client: FlaskClient, participant: Participant) -> None:
    assert_unauthenticated(client.post(codes_url(participant)))


# --- activating ------------------------------------------------------------------------


def test_activation_exchanges_the_code_for_a_device_session(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    code = issue(client, make, nurse, participant)

    response = client.post(ACTIVATE, json={"code": code, "platform": "ios", "app_version": "1.4.2"})

    assert response.status_code == 201, response.json
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["subject_code"] == participant.subject_code
    assert body["access_token"].startswith("lta_") and body["refresh_token"].startswith("ltr_")
    assert parse_time(body["access_expires_at"]) == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    # The device session lasts the follow-up: 240 days after 2026-03-02 is 2026-10-28.
    assert parse_time(body["refresh_expires_at"]) == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)
    me = client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json["subject_code"] == participant.subject_code


def test_a_code_works_only_once(client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant) -> None:
    code = issue(client, make, nurse, participant)
    assert activate(client, code).status_code == 201

    assert_error(activate(client, code), 409, "conflict")


def test_a_code_works_until_just_before_72_hours(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    code = issue(client, make, nurse, participant)
    clock.shift(timedelta(hours=71, minutes=59))

    assert activate(client, code).status_code == 201


def test_an_expired_code_is_gone(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    code = issue(client, make, nurse, participant)

    with time_machine.travel(datetime(2026, 3, 5, 9, 0, 1, tzinfo=UTC), tick=False):
        assert_error(activate(client, code), 410, "gone")


def test_a_garbled_code_is_422_naming_the_field(client: FlaskClient) -> None:
    body = assert_error(activate(client, "hello"), 422)

    assert list(body["errors"]) == ["json"]
    assert list(body["errors"]["json"]) == ["code"]


def test_an_empty_code_is_422(client: FlaskClient) -> None:
    body = assert_error(client.post(ACTIVATE, json={"code": ""}), 422)

    assert "code" in body["errors"]["json"]


def test_an_unknown_well_formed_code_is_401(client: FlaskClient) -> None:
    assert_error(activate(client, "0000-0000-0000"), 401, "unauthenticated")


def test_a_new_code_replaces_the_older_unused_one(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    older = issue(client, make, nurse, participant)
    newer = issue(client, make, nurse, participant)

    assert_error(activate(client, older), 410, "gone")
    assert activate(client, newer).status_code == 201


def test_lower_case_and_spaces_are_accepted(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    code = issue(client, make, nurse, participant)
    typed = "  " + code.lower().replace("-", " ") + " "

    assert activate(client, typed).status_code == 201


def test_a_code_without_dashes_is_accepted(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    code = issue(client, make, nurse, participant)

    assert activate(client, code.replace("-", "")).status_code == 201


def test_activation_refuses_unknown_fields(client: FlaskClient) -> None:
    body = assert_error(client.post(ACTIVATE, json={"code": "0000-0000-0000", "participant_id": 1}), 422)

    assert "participant_id" in body["errors"]["json"]


# --- ending patient sessions -----------------------------------------------------------


def test_nurse_revokes_a_participants_sessions(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    old_phone = make.activate(participant)
    assert client.get(ME, headers=bearer(old_phone["access_token"])).status_code == 200

    response = client.post(
        f"/api/v1/participants/{participant.id}/sessions/revoke",
        json={"reason": "phone lost"},
        headers=make.staff_headers(nurse),
    )

    assert response.status_code == 200, response.json
    assert response.json == {"sessions_revoked": 1}
    assert_unauthenticated(client.get(ME, headers=bearer(old_phone["access_token"])))
    assert_error(refresh(client, old_phone["refresh_token"]), 401, "unauthenticated")


def test_after_revocation_a_new_code_activates_a_new_phone(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    make.activate(participant)
    client.post(
        f"/api/v1/participants/{participant.id}/sessions/revoke",
        json={"reason": "phone lost"},
        headers=make.staff_headers(nurse),
    )

    new_phone = activate(client, issue(client, make, nurse, participant))

    assert new_phone.status_code == 201, new_phone.json
    assert client.get(ME, headers=bearer(new_phone.json["access_token"])).status_code == 200


def test_revoking_needs_a_reason(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    response = client.post(
        f"/api/v1/participants/{participant.id}/sessions/revoke", json={}, headers=make.staff_headers(nurse)
    )

    body = assert_error(response, 422)
    assert "reason" in body["errors"]["json"]


def test_withdrawal_ends_the_patient_session_at_once(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    investigator = make.staff("investigator")
    patient = make.activate(participant)
    assert client.get(ME, headers=bearer(patient["access_token"])).status_code == 200

    response = client.post(
        f"/api/v1/participants/{participant.id}/withdraw",
        json={"reason": "withdrew consent"},
        headers=make.staff_headers(investigator),
    )

    assert response.status_code == 200, response.json
    assert_unauthenticated(client.get(ME, headers=bearer(patient["access_token"])))
    assert_error(refresh(client, patient["refresh_token"]), 401, "unauthenticated")


def test_withdrawal_voids_an_unused_code_and_no_new_code_is_issued(
    client: FlaskClient, make: Factory, nurse: StaffUser, participant: Participant
) -> None:
    investigator = make.staff("investigator")
    code = issue(client, make, nurse, participant)
    client.post(
        f"/api/v1/participants/{participant.id}/withdraw",
        json={"reason": "withdrew consent"},
        headers=make.staff_headers(investigator),
    )

    assert_error(activate(client, code), 410, "gone")
    assert_error(client.post(codes_url(participant), headers=make.staff_headers(nurse)), 409, "conflict")
