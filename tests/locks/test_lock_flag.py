"""The patient app's writes learn from the token lookup that no data lock is active, and
skip the lock query; that reading counts only within its transaction, and a lock set or
released in the same session is seen."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import instance_dict

from backend.auth.service import authenticate_access_token, staff_actor
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.errors import Locked
from backend.locks.models import LockLevel
from backend.locks.service import ensure_writable, release_lock, set_lock
from backend.participants.models import Participant
from tests.conftest import CountQueries
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


def test_the_token_lookup_reads_whether_a_lock_is_active(make: Factory, db: Session, participant: Participant) -> None:
    read_as_patient(make, db, participant)
    assert instance_dict(participant)["has_active_lock"] is False
    set_lock(db, an_admin(make), participant.id, LOCK, utcnow())
    read_as_patient(make, db, participant)
    assert instance_dict(participant)["has_active_lock"] is True


def test_a_patient_write_runs_the_lock_query_only_when_a_lock_is_active(
    count_queries: CountQueries,
    client: FlaskClient,
    participant: Participant,
    patient: dict[str, str],
    admin: dict[str, str],
) -> None:
    def lock_queries(statements: list[str]) -> int:
        # The token lookup names data_lock too (its EXISTS), beside auth_token.
        return sum(1 for text in statements if "data_lock" in text and "auth_token" not in text)

    body = {"client_uuid": new_uuid(), "score": 4, "recorded_at": local_noon(TODAY)}
    with count_queries() as statements:
        assert client.post("/api/v1/me/pain-scores", json=body, headers=patient).status_code == 201
    assert lock_queries(statements) == 0
    set_lock_by_api(client, admin, participant.id, "locked")
    body = {**body, "client_uuid": new_uuid()}
    with count_queries() as statements:
        assert client.post("/api/v1/me/pain-scores", json=body, headers=patient).status_code == 423
    assert lock_queries(statements) == 1


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
