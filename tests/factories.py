"""Factories: real rows through the real services, and real sign-ins through the API."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.activation import issue_activation_code
from backend.auth.service import AuthSettings, staff_actor
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.participants.models import Participant
from backend.participants.service import change_status, create_participant
from backend.staff.models import StaffRole, StaffUser
from backend.staff.service import create_staff
from backend.studies.models import Study
from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file
from backend.studies.service import load_protocol

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


class Factory:
    def __init__(self, db: Session, app: Flask, client: FlaskClient) -> None:
        self.db = db
        self.app = app
        self.client = client
        self._study: Study | None = None

    @property
    def settings(self) -> AuthSettings:
        return self.app.extensions["limbtrack_auth"]  # type: ignore[no-any-return]

    def study(self) -> Study:
        """The demo study (P-MSC CLI phase I), loaded from the shipped protocol file."""
        if self._study is None:
            document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
            self._study = load_protocol(self.db, document, sha256, Actor.system("test"), utcnow()).study
        return self._study

    def staff(
        self,
        role: str = "nurse",
        sites: tuple[str, ...] = ("TEH-01",),
        email: str | None = None,
        password: str = PASSWORD,
    ) -> StaffUser:
        study = self.study()
        email = email or f"{role}{next(_serial)}@site.example"
        return create_staff(
            self.db,
            self.settings.secrets,
            Actor.system("test"),
            study,
            email,
            password,
            StaffRole(role),
            [] if role == "admin" else list(sites),
            utcnow(),
        )

    def participant_payload(self, **overrides: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "client_uuid": str(uuid.uuid4()),
            "subject_code": f"TEH01-{next(_serial):03d}",
            "site_code": "TEH-01",
            "cohort_code": "LOW",
            "target_leg": "right",
            "timezone": "Asia/Tehran",
            "language": "fa",
            "day0_date": None,
            "consent_version": "1.0",
            "consent_date": "2026-01-10",
        }
        payload.update(overrides)
        return payload

    def participant(self, **overrides: Any) -> Participant:
        study = self.study()
        data = self.participant_payload(**overrides)
        data["client_uuid"] = uuid.UUID(data["client_uuid"])
        data["consent_date"] = date.fromisoformat(data["consent_date"])
        if isinstance(data["day0_date"], str):
            data["day0_date"] = date.fromisoformat(data["day0_date"])
        actor = Actor.system("test", study_id=study.id)
        participant, _ = create_participant(self.db, actor, data, utcnow())
        return participant

    def enrolled(self, at: datetime, **overrides: Any) -> Participant:
        """A participant (as `participant` builds one) enrolled at `at`; entries recorded
        before that moment are refused."""
        return self.enrolled_at(self.participant(**overrides), at)

    def enrolled_at(self, participant: Participant, at: datetime) -> Participant:
        """Enrol a registered participant at `at`."""
        actor = Actor.system("test", study_id=participant.study_id)
        return change_status(self.db, actor, participant.id, "enrol", "eligible", at)

    def login(self, user: StaffUser, password: str = PASSWORD) -> dict[str, Any]:
        response = self.client.post("/api/v1/auth/staff/login", json={"email": user.email, "password": password})
        assert response.status_code == 200, response.json
        return response.json  # type: ignore[no-any-return]

    def staff_headers(self, user: StaffUser) -> dict[str, str]:
        return bearer(self.login(user)["access_token"])

    def activation_code(self, participant: Participant) -> str:
        nurse = self.db.scalar(select(StaffUser).where(StaffUser.role == StaffRole.NURSE).limit(1))
        if nurse is None:
            nurse = self.staff("nurse", sites=(participant.site.code,))
        return issue_activation_code(self.db, self.settings, staff_actor(nurse, None), participant, utcnow()).code

    def activate(self, participant: Participant) -> dict[str, Any]:
        code = self.activation_code(participant)
        response = self.client.post("/api/v1/auth/patient/activate", json={"code": code, "platform": "android"})
        assert response.status_code == 201, response.json
        return response.json  # type: ignore[no-any-return]

    def patient_headers(self, participant: Participant) -> dict[str, str]:
        return bearer(self.activate(participant)["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
