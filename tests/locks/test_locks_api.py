"""Setting, changing, releasing and reading data locks through the API: admins only, a
reason every time, every change audited, history kept, other sites' participants hidden."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent, AuditEvent
from backend.locks.models import DataLock, LockLevel
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.factories import Factory
from tests.locks.helpers import (
    T0,
    audit_actions,
    audit_count,
    locks_url,
    refused,
    release,
    release_url,
    set_lock,
)


def _admin_id(db: Session) -> int:
    admin = db.scalar(select(StaffUser).where(StaffUser.role == "admin"))
    assert admin is not None
    return admin.id


def test_freeze_then_lock_then_release_a_visit_keeps_the_history_and_audits_each_step(
    client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str], clock: time_machine.Traveller
) -> None:
    frozen = set_lock(client, admin, participant.id, "frozen", "M1")
    assert frozen["visit_code"] == "M1" and frozen["level"] == "frozen" and frozen["is_active"] is True
    assert frozen["reason"] == "close-out: frozen"
    assert frozen["set_at"] == "2026-03-02T09:00:00+00:00"
    assert frozen["set_by_id"] == _admin_id(db) and frozen["replaces_id"] is None

    clock.shift(timedelta(minutes=5))
    locked = set_lock(client, admin, participant.id, "locked", "M1")
    assert locked["id"] != frozen["id"]
    assert (locked["level"], locked["replaces_id"], locked["is_active"]) == ("locked", frozen["id"], True)

    listed = client.get(locks_url(participant.id), headers=admin)
    assert listed.status_code == 200, listed.json
    assert [row["id"] for row in listed.json] == [locked["id"], frozen["id"]]  # newest first
    old = listed.json[1]
    assert old["is_active"] is False
    assert old["released_at"] == "2026-03-02T09:05:00+00:00"
    assert (old["released_by_id"], old["release_reason"]) == (_admin_id(db), "close-out: locked")

    clock.shift(timedelta(minutes=5))
    released = release(client, admin, participant.id, locked["id"])
    assert released["is_active"] is False and released["release_reason"] == "query reopened"
    assert released["released_at"] == "2026-03-02T09:10:00+00:00"

    assert audit_actions(db, participant.id) == [
        ("participant.create", "participant", None),
        ("participant.enrol", "participant", "eligible"),
        ("data_lock.set", "data_lock", "close-out: frozen"),
        ("data_lock.release", "data_lock", "close-out: locked"),
        ("data_lock.set", "data_lock", "close-out: locked"),
        ("data_lock.release", "data_lock", "query reopened"),
    ]
    last = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (last.actor_role, last.entity_id) == ("admin", str(locked["id"]))
    assert last.before is not None and last.after is not None
    assert (last.before["released_at"], last.after["released_at"]) == (None, "2026-03-02T09:10:00+00:00")
    assert (last.before["level"], last.after["level"]) == ("locked", "locked")


def test_the_whole_participant_and_each_visit_are_separate_scopes(
    client: FlaskClient, participant: Participant, admin: dict[str, str]
) -> None:
    whole = set_lock(client, admin, participant.id, "locked")
    baseline = set_lock(client, admin, participant.id, "frozen", "BASELINE")
    m1 = set_lock(client, admin, participant.id, "locked", "M1")
    assert whole["visit_code"] is None
    listed = client.get(locks_url(participant.id), headers=admin).json
    assert {(row["visit_code"], row["level"], row["is_active"]) for row in listed} == {
        (None, "locked", True),
        ("BASELINE", "frozen", True),
        ("M1", "locked", True),
    }
    assert {whole["id"], baseline["id"], m1["id"]} == {row["id"] for row in listed}


@pytest.mark.parametrize("visit_code", [None, "M1"])
def test_the_same_level_again_is_a_conflict_and_writes_nothing(
    client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str], visit_code: str | None
) -> None:
    first = set_lock(client, admin, participant.id, "locked", visit_code)
    before = audit_count(db, participant.id)
    body = {"level": "locked", "visit_code": visit_code, "reason": "again"}
    response = client.post(locks_url(participant.id), json=body, headers=admin)
    error = refused(response, 409, "conflict")
    assert f"data lock {first['id']}" in error["message"]
    assert audit_count(db, participant.id) == before
    assert len(client.get(locks_url(participant.id), headers=admin).json) == 1


@pytest.mark.parametrize("role", ["investigator", "nurse", "monitor"])
def test_only_an_admin_may_set_change_or_release(
    make: Factory, client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str], role: str
) -> None:
    lock = set_lock(client, admin, participant.id, "frozen", "M1")
    headers = make.staff_headers(make.staff(role, sites=("TEH-01",)))
    before = audit_count(db, participant.id)

    response = client.post(locks_url(participant.id), json={"level": "locked", "reason": "close-out"}, headers=headers)
    refused(response, 403, "forbidden")
    upgrade = {"level": "locked", "visit_code": "M1", "reason": "close-out"}
    refused(client.post(locks_url(participant.id), json=upgrade, headers=headers), 403, "forbidden")
    response = client.post(release_url(participant.id, lock["id"]), json={"reason": "reopen"}, headers=headers)
    refused(response, 403, "forbidden")

    assert audit_count(db, participant.id) == before
    assert [(row["level"], row["is_active"]) for row in client.get(locks_url(participant.id), headers=admin).json] == [
        ("frozen", True)
    ]


def test_a_patient_may_neither_read_nor_set_locks(
    client: FlaskClient, participant: Participant, patient: dict[str, str]
) -> None:
    refused(client.get(locks_url(participant.id), headers=patient), 403, "forbidden")
    body = {"level": "locked", "reason": "close-out"}
    refused(client.post(locks_url(participant.id), json=body, headers=patient), 403, "forbidden")
    refused(client.post(locks_url(participant.id), json=body), 401, "unauthenticated")


BAD_REASONS = [
    pytest.param({}, id="missing"),
    pytest.param({"reason": None}, id="null"),
    pytest.param({"reason": ""}, id="empty"),
    pytest.param({"reason": "    "}, id="blank"),
    pytest.param({"reason": "ok"}, id="too-short"),
    pytest.param({"reason": "x" * 1001}, id="too-long"),
]


@pytest.mark.parametrize("reason", BAD_REASONS)
def test_setting_needs_a_reason(
    client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str], reason: dict[str, Any]
) -> None:
    before = audit_count(db, participant.id)
    response = client.post(locks_url(participant.id), json={"level": "locked", **reason}, headers=admin)
    body = refused(response, 422, "unprocessable_entity")
    assert set(body["errors"]["json"]) == {"reason"}
    assert audit_count(db, participant.id) == before
    assert client.get(locks_url(participant.id), headers=admin).json == []


@pytest.mark.parametrize("reason", BAD_REASONS)
def test_releasing_needs_a_reason(
    client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str], reason: dict[str, Any]
) -> None:
    lock = set_lock(client, admin, participant.id, "locked")
    before = audit_count(db, participant.id)
    body = refused(
        client.post(release_url(participant.id, lock["id"]), json=reason, headers=admin), 422, "unprocessable_entity"
    )
    assert set(body["errors"]["json"]) == {"reason"}
    assert audit_count(db, participant.id) == before
    assert client.get(locks_url(participant.id), headers=admin).json[0]["is_active"] is True


@pytest.mark.parametrize("visit_code", ["M7", "m1", "DAY28", " M1"])
def test_an_unknown_visit_code_is_refused_naming_the_field(
    client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str], visit_code: str
) -> None:
    before = audit_count(db, participant.id)
    body = {"level": "locked", "visit_code": visit_code, "reason": "close-out"}
    error = refused(client.post(locks_url(participant.id), json=body, headers=admin), 422, "validation_failed")
    assert list(error["errors"]["json"]) == ["visit_code"]
    assert "BASELINE, M1, M2, M3, M4, M5, M6" in error["message"]
    assert audit_count(db, participant.id) == before


def test_a_visit_cannot_be_locked_before_day0_is_known(
    make: Factory, client: FlaskClient, admin: dict[str, str], clock: time_machine.Traveller
) -> None:
    screening = make.participant()  # no day 0 yet
    body = {"level": "frozen", "visit_code": "BASELINE", "reason": "close-out"}
    error = refused(client.post(locks_url(screening.id), json=body, headers=admin), 422, "validation_failed")
    assert list(error["errors"]["json"]) == ["visit_code"] and "day 0" in error["message"]
    assert set_lock(client, admin, screening.id, "frozen")["visit_code"] is None  # the whole participant can


def test_locks_are_read_by_staff_of_the_site_and_hidden_from_other_sites(
    make: Factory, client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str]
) -> None:
    lock = set_lock(client, admin, participant.id, "locked", "M1")
    for role in ("nurse", "investigator", "monitor"):
        headers = make.staff_headers(make.staff(role, sites=("TEH-01",)))
        response = client.get(locks_url(participant.id), headers=headers)
        assert response.status_code == 200, response.json
        assert [row["id"] for row in response.json] == [lock["id"]]
    stranger = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    refused(client.get(locks_url(participant.id), headers=stranger), 404, "not_found")
    reads = db.scalars(select(AccessEvent).where(AccessEvent.resource == "data_locks")).all()
    assert [read.actor_role for read in reads] == ["nurse", "investigator", "monitor"]
    assert {read.participant_id for read in reads} == {participant.id}


def test_active_only_leaves_out_released_locks(
    client: FlaskClient, participant: Participant, admin: dict[str, str]
) -> None:
    old = set_lock(client, admin, participant.id, "locked", "BASELINE")
    release(client, admin, participant.id, old["id"])
    current = set_lock(client, admin, participant.id, "frozen", "M1")
    response = client.get(locks_url(participant.id) + "?active_only=true", headers=admin)
    assert [row["id"] for row in response.json] == [current["id"]]
    assert json.loads(response.headers["X-Pagination"])["total"] == 1
    everything = client.get(locks_url(participant.id), headers=admin).json
    assert [row["id"] for row in everything] == [current["id"], old["id"]]


def test_release_answers_404_for_another_participants_lock_and_409_when_already_released(
    make: Factory, client: FlaskClient, db: Session, participant: Participant, admin: dict[str, str]
) -> None:
    other = make.participant()
    others_lock = set_lock(client, admin, other.id, "locked")
    own = set_lock(client, admin, participant.id, "locked")
    response = client.post(release_url(participant.id, others_lock["id"]), json={"reason": "wrong"}, headers=admin)
    refused(response, 404, "not_found")
    release(client, admin, participant.id, own["id"])
    before = audit_count(db, participant.id)
    response = client.post(release_url(participant.id, own["id"]), json={"reason": "again"}, headers=admin)
    refused(response, 409, "conflict")
    assert audit_count(db, participant.id) == before
    # The other participant's lock is untouched.
    assert client.get(locks_url(other.id), headers=admin).json[0]["is_active"] is True


def test_after_a_release_the_scope_can_be_locked_again(
    client: FlaskClient, participant: Participant, admin: dict[str, str]
) -> None:
    first = set_lock(client, admin, participant.id, "locked", "M1")
    release(client, admin, participant.id, first["id"])
    again = set_lock(client, admin, participant.id, "locked", "M1")
    assert again["replaces_id"] is None and again["id"] != first["id"]


@pytest.mark.parametrize("visit_code", [None, "M1"])
def test_the_database_allows_one_active_lock_per_scope(
    db: Session, participant: Participant, admin: dict[str, str], visit_code: str | None
) -> None:
    admin_id = _admin_id(db)

    def lock(released: bool = False) -> DataLock:
        return DataLock(
            participant_id=participant.id,
            visit_code=visit_code,
            level=LockLevel.FROZEN,
            reason="close-out",
            set_at=T0,
            set_by_id=admin_id,
            released_at=T0 if released else None,
            released_by_id=admin_id if released else None,
            release_reason="reopened" if released else None,
        )

    db.add_all([lock(released=True), lock(released=True), lock()])
    db.flush()  # released rows are history: any number of them
    savepoint = db.begin_nested()
    db.add(lock())
    with pytest.raises(IntegrityError):
        db.flush()
    savepoint.rollback()
    other_scope = DataLock(
        participant_id=participant.id,
        visit_code="M2" if visit_code is None else None,
        level=LockLevel.LOCKED,
        reason="close-out",
        set_at=T0,
        set_by_id=admin_id,
    )
    db.add(other_scope)
    db.flush()  # the other scope has its own slot


def test_a_release_without_who_or_why_is_refused_by_the_database(
    db: Session, participant: Participant, admin: dict[str, str]
) -> None:
    row = DataLock(
        participant_id=participant.id,
        visit_code=None,
        level=LockLevel.LOCKED,
        reason="close-out",
        set_at=T0,
        set_by_id=_admin_id(db),
        released_at=T0,
    )
    savepoint = db.begin_nested()
    db.add(row)
    with pytest.raises(IntegrityError):
        db.flush()
    savepoint.rollback()
