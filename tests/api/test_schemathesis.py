"""Property-based fuzzing of the whole API with schemathesis, in process.

The committed spec (itself drift-tested) drives generation; every case runs against
the app bound to the test's database, signed in as a patient and as a nurse. A 5xx, or
a response that breaks its own documented schema, fails the test.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session

from backend.auth.models import AuthSession, AuthToken, SessionKind, TokenKind
from backend.core.timeutil import utcnow
from backend.participants.models import Device
from tests.factories import Factory

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "api_spec" / "openapi.yaml").read_text("utf-8"))
PATIENT_TOKEN = "lta_schemathesis-patient-token-0000000000000"
NURSE_TOKEN = "lta_schemathesis-nurse-token-00000000000000"
ADMIN_TOKEN = "lta_schemathesis-admin-token-00000000000000"
MAX_EXAMPLES = 30
CASES = {"count": 0}


def _schema(token: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(SPEC)
    # Set in the config (not per call) so schemathesis can still send its own
    # "Authorization missing" negative cases.
    schema.config.update(headers={"Authorization": f"Bearer {token}"})
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)
    # Schema-valid data may still break a business rule (another site's code, an expired
    # activation code, a locked sign-in): 410/422/423 are fine for positive data here, and
    # `schema_valid_passes_validation` below still fails any 422 from schema validation.
    schema.config.checks.positive_data_acceptance.expected_statuses = [
        *schema.config.checks.positive_data_acceptance.expected_statuses,
        "410",
        "422",
        "423",
    ]
    return schema


as_patient = _schema(PATIENT_TOKEN)
as_nurse = _schema(NURSE_TOKEN)
# Only admins set and release locks; a nurse's calls there all end in 403.
as_admin_on_locks = _schema(ADMIN_TOKEN).include(tag="locks")


def _install_token(db: Session, app: Flask, token: str, **subject: object) -> None:
    now = utcnow()
    kind = SessionKind.STAFF if "staff_user" in subject else SessionKind.PATIENT
    auth_session = AuthSession(kind=kind, created_at=now, expires_at=now + timedelta(days=1), **subject)
    secrets = app.extensions["limbtrack_auth"].secrets
    db.add(auth_session)
    db.add(
        AuthToken(
            session=auth_session,
            kind=TokenKind.ACCESS,
            token_hash=secrets.keyed_hash(token),
            issued_at=now,
            expires_at=now + timedelta(days=1),
        )
    )
    db.commit()


@pytest.fixture
def fuzz_app(make: Factory, db: Session, app: Flask) -> Flask:
    """A study with a nurse, an admin and a patient whose access tokens are known in advance."""
    nurse = make.staff("nurse", sites=("TEH-01",))
    admin = make.staff("admin")
    participant = make.participant()
    make.participant(site_code="TEH-02")
    device = Device(participant=participant, platform="ios", activated_at=utcnow())
    db.add(device)
    _install_token(db, app, NURSE_TOKEN, staff_user=nurse)
    _install_token(db, app, ADMIN_TOKEN, staff_user=admin)
    _install_token(db, app, PATIENT_TOKEN, device=device)
    return app


FUZZ_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def schema_valid_passes_validation(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Data the spec calls valid must get past request validation (webargs' 422)."""
    assert case.meta is not None
    if case.meta.generation.mode.is_positive and response.status_code == 422:
        body = response.json()
        assert body.get("code") != "unprocessable_entity", f"spec-valid request failed validation: {body}"


def _run(case: schemathesis.Case, app: Flask) -> None:
    CASES["count"] += 1
    # The schema came from a file; point it (and the checks' own probe requests, such as
    # the one that drops the Authorization header) at this test's app.
    case.operation.schema.app = case.operation.app = app
    case.call_and_validate(additional_checks=[schema_valid_passes_validation])


@FUZZ_SETTINGS
@as_patient.parametrize()
def test_api_as_patient(case: schemathesis.Case, fuzz_app: Flask) -> None:
    _run(case, fuzz_app)


@FUZZ_SETTINGS
@as_nurse.parametrize()
def test_api_as_nurse(case: schemathesis.Case, fuzz_app: Flask) -> None:
    _run(case, fuzz_app)


@FUZZ_SETTINGS
@as_admin_on_locks.parametrize()
def test_locks_api_as_admin(case: schemathesis.Case, fuzz_app: Flask) -> None:
    _run(case, fuzz_app)
