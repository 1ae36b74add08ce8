"""A patient's write sees the data locks as they are when it writes: a lock set after the
patient signed in, committed by another session or set in the same one refuses it, and a
released one no longer does."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from backend.auth.service import authenticate_access_token, staff_actor
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.errors import Locked
from backend.locks.models import LockLevel
from backend.locks.service import ensure_writable, release_lock, set_lock
from backend.participants.models import Participant
from tests.factories import Factory
from tests.locks.helpers import TODAY, local_noon, new_uuid
from tests.locks.helpers import set_lock as set_lock_by_api

LOCK = {"level": LockLevel.LOCKED, "visit_code": None, "reason": "close-out"}


def read_as_patient(make: Factory, db: Session, participant: Participant) -> Actor:
    """Authenticate the participant's app in `db`, as a request of the app does."""
    token = make.patient_headers(participant)["Authorization"].removeprefix("Bearer ")
    return authenticate_access_token(db, make.settings, token, utcnow())


def an_admin(make: Factory) -> Actor:
    return staff_actor(make.staff("admin"), None)


def test_a_lock_set_after_the_patient_signed_in_refuses_the_patients_write(
    make: Factory, db: Session, participant: Participant
) -> None:
    patient = read_as_patient(make, db, participant)
    ensure_writable(db, patient, participant, TODAY)  # no lock yet
    set_lock(db, an_admin(make), participant.id, LOCK, utcnow())
    with pytest.raises(Locked):
        ensure_writable(db, patient, participant, TODAY)


def test_a_patient_write_is_refused_only_while_a_lock_is_active(
    client: FlaskClient, participant: Participant, patient: dict[str, str], admin: dict[str, str]
) -> None:
    body = {"client_uuid": new_uuid(), "score": 4, "recorded_at": local_noon(TODAY)}
    assert client.post("/api/v1/me/pain-scores", json=body, headers=patient).status_code == 201
    set_lock_by_api(client, admin, participant.id, "locked")
    body = {**body, "client_uuid": new_uuid()}
    assert client.post("/api/v1/me/pain-scores", json=body, headers=patient).status_code == 423


def test_a_lock_committed_after_the_reading_is_seen_by_the_next_transaction(
    make: Factory, db: Session, session_factory: sessionmaker[Session], participant: Participant
) -> None:
    patient = read_as_patient(make, db, participant)
    db.commit()
    with session_factory() as other:
        set_lock(other, an_admin(make), participant.id, LOCK, utcnow())
    with pytest.raises(Locked):
        ensure_writable(db, patient, participant, TODAY)


def test_a_lock_set_in_the_same_session_is_seen(make: Factory, db: Session, participant: Participant) -> None:
    patient = read_as_patient(make, db, participant)
    set_lock(db, an_admin(make), participant.id, LOCK, utcnow())
    with pytest.raises(Locked):
        ensure_writable(db, patient, participant, TODAY)


def test_a_lock_released_in_the_same_session_no_longer_blocks(
    make: Factory, db: Session, participant: Participant
) -> None:
    admin = an_admin(make)
    lock = set_lock(db, admin, participant.id, LOCK, utcnow())
    patient = read_as_patient(make, db, participant)
    release_lock(db, admin, participant.id, lock.id, "query reopened", utcnow())
    ensure_writable(db, patient, participant, TODAY)
