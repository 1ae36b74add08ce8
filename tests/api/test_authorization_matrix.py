"""Authorisation per object: every route with every kind of caller.

`ROUTES` says, for each (method, rule) of the app's URL map, who may call it and which
object it addresses. `test_every_route_has_an_authorization_spec` keeps that table in
step with the URL map, so a new route without an entry fails the suite. The matrix then
calls each route as each actor of `ACTORS` — with the target participant at TEH-01 — and
expects:

- anonymous: 401 with the error envelope (public routes excepted);
- a staff role the route does not allow, or a patient on a staff route: 403;
- an allowed role at another site: 404 for a participant id (its existence is not
  revealed), 422 for creating at a site that is not yours, a list without the target;
- an allowed role in scope: the route's 2xx, so the table proves the route works;
- staff on a patient route (`/api/v1/me`): 403; a patient there: 200 with their own record.

A refused request must write nothing: the target's audit trail does not grow.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any, Literal

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from backend.amputations.schemas import AmputationEventCreateSchema
from backend.amputations.service import record_amputation
from backend.audit.models import AuditEvent
from backend.auth.service import staff_actor
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.diary.service import record_pain_score
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.imaging import ALGORITHM_VERSION
from backend.locks.models import LockLevel
from backend.locks.service import set_lock
from backend.participants.models import Participant
from backend.participants.service import change_status
from backend.reminders.schemas import DeviceRegisterSchema
from backend.reminders.service import register_device
from backend.staff.models import StaffRole
from backend.staff.roles import MANAGE_LOCKS, MANAGE_PARTICIPANTS, READ_PARTICIPANTS, WITHDRAW_PARTICIPANTS
from backend.staff.service import create_staff
from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file
from backend.studies.service import load_protocol
from backend.symptoms.schemas import SymptomReportCreateSchema
from backend.symptoms.service import record_symptom
from backend.trial_sync.service import run_trial_sync
from backend.trial_sync.target import SqlTrialTarget
from backend.ulcers.photos import record_photo
from backend.ulcers.schemas import UlcerCreateSchema
from backend.ulcers.service import create_ulcer
from backend.walks.schemas import WalkTestCreateSchema
from backend.walks.service import record_walk_test
from tests.factories import PASSWORD, Factory, bearer
from tests.images import jpeg_bytes, ulcer_photo

PARTICIPANT_ID = "<id:participant_id>"  # the app's positive 32-bit id converter
SCORE_ID = "<id:score_id>"
WALK_ID = "<id:walk_id>"
REPORT_ID = "<id:report_id>"
FLAG_ID = "<id:flag_id>"
ULCER_ID = "<id:ulcer_id>"
PHOTO_ID = "<id:photo_id>"
DEVICE_ID = "<id:device_id>"
AMPUTATION_ID = "<id:amputation_id>"
LOCK_ID = "<id:lock_id>"
OBJECT_PLACEHOLDERS = (SCORE_ID, WALK_ID, REPORT_ID, FLAG_ID, ULCER_ID, PHOTO_ID, DEVICE_ID, AMPUTATION_ID, LOCK_ID)
TEHRAN = timezone(timedelta(hours=3, minutes=30))
TARGET_SITE = "TEH-01"
OTHER_SITE = "TEH-02"

# flask's static files, the Swagger UI assets and flask-smorest's spec and docs pages.
UNCHECKED_ENDPOINTS = frozenset(
    {"static", "swagger_ui_assets.static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"}
)
UNCHECKED_METHODS = frozenset({"HEAD", "OPTIONS"})


# --- the callers ---------------------------------------------------------------------


@dataclass(frozen=True)
class ActorSpec:
    name: str
    kind: Literal["anonymous", "patient", "staff"]
    role: StaffRole | None = None
    site: str | None = None
    owns_target: bool = False  # a patient: is the target participant their own?

    @property
    def in_target_scope(self) -> bool:
        return self.role == StaffRole.ADMIN or self.site == TARGET_SITE


ACTORS = (
    ActorSpec("anonymous", "anonymous"),
    ActorSpec("patient_self", "patient", owns_target=True),
    ActorSpec("patient_other", "patient"),
    ActorSpec("nurse_same_site", "staff", StaffRole.NURSE, TARGET_SITE),
    ActorSpec("nurse_other_site", "staff", StaffRole.NURSE, OTHER_SITE),
    ActorSpec("investigator", "staff", StaffRole.INVESTIGATOR, TARGET_SITE),
    ActorSpec("monitor", "staff", StaffRole.MONITOR, TARGET_SITE),
    ActorSpec("admin", "staff", StaffRole.ADMIN),
)


class Scene:
    """What one case needs, built on first use: the target participant, the caller."""

    def __init__(self, make: Factory, actor: ActorSpec) -> None:
        self.make = make
        self.actor = actor
        self._target: Participant | None = None
        self.caller_participant: Participant | None = None
        self.caller_headers: dict[str, str] = {}
        # ids of the target's own objects, by URL placeholder (a score, a flag, ...)
        self.objects: dict[str, int] = {}
        self.active_callers = False  # enrol a calling patient, so entries are accepted

    @property
    def has_target(self) -> bool:
        return self._target is not None

    @property
    def target(self) -> Participant:
        """A participant in screening at TEH-01, cohort LOW."""
        if self._target is None:
            self._target = self.make.participant(site_code=TARGET_SITE, cohort_code="LOW")
        return self._target

    def headers(self) -> dict[str, str]:
        self.caller_headers = self._sign_in()
        return self.caller_headers

    def _sign_in(self) -> dict[str, str]:
        actor = self.actor
        if actor.kind == "anonymous":
            return {}
        if actor.kind == "patient":
            self.caller_participant = self.target if actor.owns_target else self.make.participant(site_code=TARGET_SITE)
            if self.active_callers and self.caller_participant.status.value == "screening":
                _enrol(self.make, self.caller_participant)
            return self.make.patient_headers(self.caller_participant)
        assert actor.role is not None
        user = self.make.staff(actor.role.value, sites=(actor.site,) if actor.site else ())
        return self.make.staff_headers(user)


# --- the routes ----------------------------------------------------------------------

# "patient_or_staff": a patient reaches the target's object only if it is theirs (404
# otherwise); staff as for a participant route.
Access = Literal["public", "any_signed_in", "staff", "patient", "patient_or_staff"]
# What the route addresses, and so what an allowed role at another site gets.
Scope = Literal["none", "participant", "site_in_body", "list", "own_object"]
OTHER_SITE_STATUS = {"participant": 404, "site_in_body": 422}

Builder = Callable[[Scene], dict[str, Any] | None]
Checker = Callable[[Scene, TestResponse], None]


@dataclass(frozen=True)
class RouteSpec:
    access: Access
    roles: frozenset[StaffRole] = frozenset()
    scope: Scope = "none"
    success: int = 200
    prepare: Callable[[Scene], object] | None = None  # put the target into the state the route needs
    body: Builder = field(default=lambda scene: None)
    check: Checker | None = None  # what a 2xx must contain
    multipart: bool = False  # send the body as multipart/form-data (an upload)


def _enrol(make: Factory, participant: Participant) -> None:
    system = Actor.system("test", study_id=participant.study_id)
    change_status(make.db, system, participant.id, "enrol", "eligible", utcnow())


def _enrolled(scene: Scene) -> Participant:
    _enrol(scene.make, scene.target)
    return scene.target


def _active_patients(scene: Scene) -> None:
    """The target enrolled, and any calling patient enrolled too (entries need it)."""
    _enrol(scene.make, scene.target)
    scene.active_callers = True


def _now_tehran() -> str:
    return datetime.now(TEHRAN).isoformat()


def _target_actor(scene: Scene) -> Actor:
    target = scene.target
    return Actor(
        kind="participant",
        id=target.id,
        role="patient",
        study_id=target.study_id,
        site_ids=frozenset({target.site_id}),
        participant_id=target.id,
    )


def _with_pain_score(scene: Scene) -> None:
    _active_patients(scene)
    data = {"client_uuid": uuid.uuid4(), "score": 4, "recorded_at": utcnow()}
    score, _ = record_pain_score(scene.make.db, _target_actor(scene), data, utcnow())
    scene.objects[SCORE_ID] = score.id


def _with_walk(scene: Scene) -> None:
    _active_patients(scene)
    data = WalkTestCreateSchema().load(_walk_body(scene))
    walk, _ = record_walk_test(scene.make.db, _target_actor(scene), data, utcnow())
    scene.objects[WALK_ID] = walk.id


def _with_symptom(scene: Scene) -> None:
    _active_patients(scene)
    data = SymptomReportCreateSchema().load(_symptom_body(scene))
    report, _ = record_symptom(scene.make.db, _target_actor(scene), data, utcnow())
    scene.objects[REPORT_ID] = report.id


def _with_sync_run(scene: Scene) -> None:
    """One sync run of the study (it creates the trial database's views, so it writes)."""
    scene.make.study()
    trial = scene.make.app.extensions["limbtrack_trial_db"]
    assert run_trial_sync(scene.make.db, SqlTrialTarget(trial.engine), utcnow()).run_id is not None


def _with_flag(scene: Scene) -> None:
    flag = raise_flag(scene.make.db, scene.target, FlagKind.SYMPTOM, "matrix", utcnow(), detail={})
    assert flag is not None
    scene.make.db.commit()
    scene.objects[FLAG_ID] = flag.id


def _with_ulcer(scene: Scene) -> None:
    _active_patients(scene)
    data = UlcerCreateSchema().load(_ulcer_body(scene))
    ulcer, _ = create_ulcer(scene.make.db, _target_actor(scene), scene.target.id, data, utcnow())
    scene.objects[ULCER_ID] = ulcer.id


def _with_photo(scene: Scene) -> None:
    _with_ulcer(scene)
    store = scene.make.app.extensions["limbtrack_photo_store"]
    data = {"client_uuid": uuid.uuid4(), "recorded_at": datetime.now(TEHRAN)}
    photo, _ = record_photo(
        scene.make.db, store, _target_actor(scene), scene.objects[ULCER_ID], data, _photo(), utcnow()
    )
    scene.objects[PHOTO_ID] = photo.id


def _with_amputation(scene: Scene) -> None:
    """The target enrolled, with one amputation event recorded by a nurse of its site."""
    _enrol(scene.make, scene.target)
    nurse = staff_actor(scene.make.staff("nurse", sites=(TARGET_SITE,)), None)
    data = AmputationEventCreateSchema().load(_amputation_body(scene))
    event, _ = record_amputation(scene.make.db, nurse, scene.target.id, data, utcnow())
    scene.objects[AMPUTATION_ID] = event.id


def _amputation_body(scene: Scene) -> dict[str, Any]:
    today = datetime.now(TEHRAN).date().isoformat()
    return {"client_uuid": str(uuid.uuid4()), "occurred_on": today, "leg": "right", "level": "toe"}


def _with_lock(scene: Scene) -> None:
    """The target's data frozen by a study admin (the whole participant: it has no day 0)."""
    admin = staff_actor(scene.make.staff("admin"), None)
    data = {"visit_code": None, "level": LockLevel.FROZEN, "reason": "close-out"}
    lock = set_lock(scene.make.db, admin, scene.target.id, data, utcnow())
    scene.objects[LOCK_ID] = lock.id


def _with_push_device(scene: Scene) -> None:
    data = DeviceRegisterSchema().load(_device_body(scene))
    device, _ = register_device(scene.make.db, _target_actor(scene), data, utcnow())
    scene.objects[DEVICE_ID] = device.id


def _device_body(scene: Scene) -> dict[str, Any]:
    return {"fcm_token": f"fcm-{uuid.uuid4().hex}", "platform": "android", "app_version": "1.4.0", "locale": "fa-IR"}


@cache
def _photo() -> bytes:
    return jpeg_bytes(ulcer_photo(11, (640, 480)).image)


def _ulcer_body(scene: Scene) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "label": f"U{uuid.uuid4().hex[:6]}",
        "leg": "right",
        "location": "heel",
        "first_seen_on": datetime.now(TEHRAN).date().isoformat(),
    }


def _upload_body(scene: Scene) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": _now_tehran(),
        "image": FileStorage(io.BytesIO(_photo()), filename="photo.jpg"),
    }


def _pain_body(scene: Scene) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "score": 3, "recorded_at": _now_tehran()}


def _walk_body(scene: Scene) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "method": "phone_gps", "distance_m": 310.0, "recorded_at": _now_tehran()}


def _symptom_body(scene: Scene) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "category": "swelling",
        "severity": "mild",
        "onset_date": datetime.now(TEHRAN).date().isoformat(),
        "recorded_at": _now_tehran(),
    }


def _correction_body(scene: Scene) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "score": 5, "reason": "typed the wrong number"}


def _check_created_for_caller(scene: Scene, response: TestResponse) -> None:
    assert json_of(response)["id"]
    assert json_of(response)["entered_by_type"] == "participant"


def json_of(response: TestResponse) -> Any:
    """The response's JSON body (mypy: `TestResponse.json` may be None)."""
    body = response.json
    assert body is not None, response.data
    return body


def _ids(response: TestResponse) -> set[int]:
    return {row["id"] for row in json_of(response)}


def _subject_codes(response: TestResponse) -> list[str]:
    return [row["subject_code"] for row in json_of(response)]


def _check_list(scene: Scene, response: TestResponse) -> None:
    if scene.actor.in_target_scope:
        assert scene.target.id in _ids(response)
    else:
        assert scene.target.id not in _ids(response)


def _check_target_status(status: str) -> Checker:
    def check(scene: Scene, response: TestResponse) -> None:
        assert json_of(response)["id"] == scene.target.id
        assert json_of(response)["status"] == status

    return check


def _check_own_profile(scene: Scene, response: TestResponse) -> None:
    assert scene.caller_participant is not None
    assert json_of(response)["subject_code"] == scene.caller_participant.subject_code
    if not scene.actor.owns_target:
        assert json_of(response)["subject_code"] != scene.target.subject_code


def _check_logged_out(scene: Scene, response: TestResponse) -> None:
    assert response.data == b""
    again = scene.make.client.post("/api/v1/auth/logout", headers=scene.caller_headers)
    assert again.status_code == 401, "the access token still works after logout"


def _check_token_pair(scene: Scene, response: TestResponse) -> None:
    assert json_of(response)["token_type"] == "Bearer"
    assert json_of(response)["access_token"] and json_of(response)["refresh_token"]


def _check_activated(scene: Scene, response: TestResponse) -> None:
    _check_token_pair(scene, response)
    assert json_of(response)["subject_code"] == scene.target.subject_code


def _login_body(scene: Scene) -> dict[str, Any]:
    return {"email": scene.make.staff("nurse").email, "password": PASSWORD}


def _refresh_body(scene: Scene) -> dict[str, Any]:
    return {"refresh_token": scene.make.login(scene.make.staff("nurse"))["refresh_token"]}


def _activate_body(scene: Scene) -> dict[str, Any]:
    return {"code": scene.make.activation_code(scene.target), "platform": "android"}


def _reason(scene: Scene) -> dict[str, Any]:
    return {"reason": "authorisation matrix"}


P = "/api/v1/participants"

ROUTES: dict[tuple[str, str], RouteSpec] = {
    ("GET", "/healthz"): RouteSpec("public", check=lambda scene, response: _equal(json_of(response), {"status": "ok"})),
    ("GET", "/readyz"): RouteSpec("public", check=lambda scene, response: _equal(json_of(response), {"status": "ok"})),
    ("POST", "/api/v1/auth/staff/login"): RouteSpec("public", body=_login_body, check=_check_token_pair),
    ("POST", "/api/v1/auth/refresh"): RouteSpec("public", body=_refresh_body, check=_check_token_pair),
    ("POST", "/api/v1/auth/patient/activate"): RouteSpec(
        "public", success=201, body=_activate_body, check=_check_activated
    ),
    ("POST", "/api/v1/auth/logout"): RouteSpec("any_signed_in", success=204, check=_check_logged_out),
    ("GET", "/api/v1/me"): RouteSpec("patient", prepare=lambda scene: scene.target, check=_check_own_profile),
    ("GET", P): RouteSpec(
        "staff", READ_PARTICIPANTS, scope="list", prepare=lambda scene: scene.target, check=_check_list
    ),
    ("POST", P): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="site_in_body",
        success=201,
        body=lambda scene: scene.make.participant_payload(site_code=TARGET_SITE),
        check=lambda scene, response: _equal(json_of(response)["site_code"], TARGET_SITE),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}"): RouteSpec(
        "staff", READ_PARTICIPANTS, scope="participant", check=_check_target_status("screening")
    ),
    ("PATCH", f"{P}/{PARTICIPANT_ID}"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        body=lambda scene: {"reason": "leg recorded wrongly", "target_leg": "left"},
        check=lambda scene, response: _equal(json_of(response)["target_leg"], "left"),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/enrol"): RouteSpec(
        "staff", MANAGE_PARTICIPANTS, scope="participant", body=_reason, check=_check_target_status("active")
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/withdraw"): RouteSpec(
        "staff", WITHDRAW_PARTICIPANTS, scope="participant", body=_reason, check=_check_target_status("withdrawn")
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/complete"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        prepare=_enrolled,
        body=_reason,
        check=_check_target_status("completed"),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/activation-codes"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        check=lambda scene, response: _equal(len(json_of(response)["code"].replace("-", "")), 12),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/sessions/revoke"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        body=_reason,
        check=lambda scene, response: _equal(type(json_of(response)["sessions_revoked"]), int),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/audit"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        check=lambda scene, response: _equal(json_of(response)[0]["action"], "participant.create"),
    ),
    # --- patient-reported outcomes ---
    ("GET", "/api/v1/me/pain-scores"): RouteSpec(
        "patient", prepare=_with_pain_score, check=lambda scene, response: _own_rows(scene, response, SCORE_ID)
    ),
    ("POST", "/api/v1/me/pain-scores"): RouteSpec(
        "patient", success=201, prepare=_active_patients, body=_pain_body, check=_check_created_for_caller
    ),
    ("POST", f"/api/v1/me/pain-scores/{SCORE_ID}/corrections"): RouteSpec(
        "patient",
        scope="own_object",
        success=201,
        prepare=_with_pain_score,
        body=_correction_body,
        check=lambda scene, response: _equal(json_of(response)["corrects_id"], scene.objects[SCORE_ID]),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/pain-scores"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_pain_score,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[SCORE_ID]}),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/pain-scores/{SCORE_ID}/corrections"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_with_pain_score,
        body=_correction_body,
        check=lambda scene, response: _equal(json_of(response)["corrects_id"], scene.objects[SCORE_ID]),
    ),
    ("GET", "/api/v1/me/walk-tests"): RouteSpec("patient", prepare=_active_patients),
    ("POST", "/api/v1/me/walk-tests"): RouteSpec(
        "patient", success=201, prepare=_active_patients, body=_walk_body, check=_check_created_for_caller
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/walk-tests"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_walk,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[WALK_ID]}),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/walk-tests/{WALK_ID}/corrections"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_with_walk,
        body=lambda scene: {"client_uuid": str(uuid.uuid4()), "distance_m": 300.0, "reason": "GPS drift"},
        check=lambda scene, response: _equal(json_of(response)["corrects_id"], scene.objects[WALK_ID]),
    ),
    ("GET", "/api/v1/me/symptoms"): RouteSpec("patient", prepare=_active_patients),
    ("POST", "/api/v1/me/symptoms"): RouteSpec(
        "patient", success=201, prepare=_active_patients, body=_symptom_body, check=_check_created_for_caller
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/symptoms"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_symptom,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[REPORT_ID]}),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/symptoms/{REPORT_ID}/corrections"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_with_symptom,
        body=lambda scene: {"client_uuid": str(uuid.uuid4()), "severity": "moderate", "reason": "phoned the patient"},
        check=lambda scene, response: _equal(json_of(response)["severity"], "moderate"),
    ),
    ("GET", "/api/v1/me/tasks"): RouteSpec(
        "patient",
        prepare=_active_patients,
        check=lambda scene, response: _equal(json_of(response)["timezone"], "Asia/Tehran"),
    ),
    ("GET", "/api/v1/me/summary"): RouteSpec(
        "patient", prepare=_with_pain_score, check=lambda scene, response: _own_summary(scene, response)
    ),
    ("POST", "/api/v1/me/sync"): RouteSpec(
        "patient",
        prepare=_active_patients,
        body=lambda scene: {"items": [{"kind": "pain_score", "data": _pain_body(scene)}]},
        check=lambda scene, response: _equal(json_of(response)["created"], 1),
    ),
    ("GET", "/api/v1/flags"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="list",
        prepare=_with_flag,
        check=lambda scene, response: _check_object_listed(scene, response, FLAG_ID),
    ),
    ("POST", f"/api/v1/flags/{FLAG_ID}/acknowledge"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        prepare=_with_flag,
        body=lambda scene: {"note": "called the patient"},
        check=lambda scene, response: _equal(json_of(response)["acknowledgement_note"], "called the patient"),
    ),
    # --- ulcers and photos ---
    ("GET", "/api/v1/me/ulcers"): RouteSpec(
        "patient", prepare=_with_ulcer, check=lambda scene, response: _own_rows(scene, response, ULCER_ID)
    ),
    ("POST", "/api/v1/me/ulcers"): RouteSpec(
        "patient",
        success=201,
        prepare=_active_patients,
        body=_ulcer_body,
        check=lambda scene, response: _equal(json_of(response)["created_by_type"], "participant"),
    ),
    ("GET", f"/api/v1/me/ulcers/{ULCER_ID}/photos"): RouteSpec(
        "patient",
        scope="own_object",
        prepare=_with_photo,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[PHOTO_ID]}),
    ),
    ("POST", f"/api/v1/me/ulcers/{ULCER_ID}/photos"): RouteSpec(
        "patient",
        scope="own_object",
        success=201,
        prepare=_with_ulcer,
        body=_upload_body,
        multipart=True,
        check=lambda scene, response: _equal(json_of(response)["analysis"]["algorithm_version"], ALGORITHM_VERSION),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/ulcers"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_ulcer,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[ULCER_ID]}),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/ulcers"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        body=_ulcer_body,
        check=lambda scene, response: _equal(json_of(response)["created_by_type"], "staff"),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/ulcers/{ULCER_ID}/closures"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_with_ulcer,
        body=lambda scene: {"observed_on": datetime.now(TEHRAN).date().isoformat()},
        check=lambda scene, response: _equal(json_of(response)["healed_on"], datetime.now(TEHRAN).date().isoformat()),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/ulcers/{ULCER_ID}/photos"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_photo,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[PHOTO_ID]}),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/ulcers/{ULCER_ID}/area-history"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_photo,
        check=lambda scene, response: _equal(json_of(response)["ulcer"]["id"], scene.objects[ULCER_ID]),
    ),
    ("GET", f"/api/v1/photos/{PHOTO_ID}"): RouteSpec(
        "patient_or_staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_photo,
        check=lambda scene, response: _equal(json_of(response)["id"], scene.objects[PHOTO_ID]),
    ),
    ("GET", f"/api/v1/photos/{PHOTO_ID}/image"): RouteSpec(
        "patient_or_staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_photo,
        check=lambda scene, response: _equal(response.mimetype, "image/jpeg"),
    ),
    ("POST", f"/api/v1/photos/{PHOTO_ID}/review"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_with_photo,
        body=lambda scene: {"decision": "reject", "reject_reason": "other", "note": "matrix"},
        check=lambda scene, response: _equal(json_of(response)["review_status"], "rejected"),
    ),
    ("GET", "/api/v1/review/photos"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="list",
        prepare=_with_photo,
        check=lambda scene, response: _check_object_listed(scene, response, PHOTO_ID),
    ),
    ("GET", "/api/v1/calibration-marker.png"): RouteSpec(
        "any_signed_in", check=lambda scene, response: _equal(response.mimetype, "image/png")
    ),
    ("GET", "/api/v1/calibration-marker.pdf"): RouteSpec(
        "any_signed_in", check=lambda scene, response: _equal(response.mimetype, "application/pdf")
    ),
    # --- amputation events ---
    ("GET", f"{P}/{PARTICIPANT_ID}/amputations"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_amputation,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[AMPUTATION_ID]}),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/amputations"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_enrolled,
        body=_amputation_body,
        check=lambda scene, response: _equal((json_of(response)["level"], json_of(response)["major"]), ("toe", False)),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/amputations/{AMPUTATION_ID}/corrections"): RouteSpec(
        "staff",
        MANAGE_PARTICIPANTS,
        scope="participant",
        success=201,
        prepare=_with_amputation,
        body=lambda scene: {"client_uuid": str(uuid.uuid4()), "level": "transtibial", "reason": "operative note"},
        check=lambda scene, response: _equal(json_of(response)["corrects_id"], scene.objects[AMPUTATION_ID]),
    ),
    # --- freeze and lock of participant data ---
    ("GET", f"{P}/{PARTICIPANT_ID}/locks"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_lock,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[LOCK_ID]}),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/locks"): RouteSpec(
        "staff",
        MANAGE_LOCKS,
        scope="participant",
        success=201,
        body=lambda scene: {"level": "locked", "reason": "database lock"},
        check=lambda scene, response: _equal(
            (json_of(response)["level"], json_of(response)["visit_code"]), ("locked", None)
        ),
    ),
    ("POST", f"{P}/{PARTICIPANT_ID}/locks/{LOCK_ID}/release"): RouteSpec(
        "staff",
        MANAGE_LOCKS,
        scope="participant",
        prepare=_with_lock,
        body=lambda scene: {"reason": "query reopened"},
        check=lambda scene, response: _equal(json_of(response)["release_reason"], "query reopened"),
    ),
    # --- push devices and reminders ---
    ("GET", "/api/v1/me/devices"): RouteSpec(
        "patient", prepare=_with_push_device, check=lambda scene, response: _own_rows(scene, response, DEVICE_ID)
    ),
    ("POST", "/api/v1/me/devices"): RouteSpec(
        "patient",
        success=201,
        body=_device_body,
        check=lambda scene, response: _equal(json_of(response)["token_preview"][:4], "fcm-"),
    ),
    ("DELETE", f"/api/v1/me/devices/{DEVICE_ID}"): RouteSpec(
        "patient", scope="own_object", success=204, prepare=_with_push_device
    ),
    ("GET", "/api/v1/me/reminder-settings"): RouteSpec(
        "patient", check=lambda scene, response: _equal(json_of(response)["diary_time"], "20:00")
    ),
    ("PUT", "/api/v1/me/reminder-settings"): RouteSpec(
        "patient",
        body=lambda scene: {"diary_time": "19:30", "opted_out": ["ulcer_photo"]},
        check=lambda scene, response: _equal(json_of(response)["opted_out"], ["ulcer_photo"]),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/devices"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        prepare=_with_push_device,
        check=lambda scene, response: _equal(_ids(response), {scene.objects[DEVICE_ID]}),
    ),
    ("GET", f"{P}/{PARTICIPANT_ID}/reminders"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        scope="participant",
        check=lambda scene, response: _equal(json_of(response)["participant_id"], scene.target.id),
    ),
    # --- the trial sync: its runs cover a whole study, so every staff role of it sees them ---
    ("GET", "/api/v1/sync/runs"): RouteSpec(
        "staff",
        READ_PARTICIPANTS,
        prepare=_with_sync_run,
        check=lambda scene, response: _equal([run["mode"] for run in json_of(response)], ["full"]),
    ),
}


def _own_rows(scene: Scene, response: TestResponse, placeholder: str) -> None:
    """A patient lists only their own rows: the target's score is there only for its owner."""
    listed = scene.objects[placeholder] in _ids(response)
    assert listed == scene.actor.owns_target


def _own_summary(scene: Scene, response: TestResponse) -> None:
    days = json_of(response)["pain_7_day_days"]
    assert days == (1 if scene.actor.owns_target else 0)


def _check_object_listed(scene: Scene, response: TestResponse, placeholder: str) -> None:
    listed = scene.objects[placeholder] in _ids(response)
    assert listed == scene.actor.in_target_scope


def _equal(actual: object, expected: object) -> None:
    assert actual == expected


def expected_status(spec: RouteSpec, actor: ActorSpec) -> int:
    if spec.access == "public":
        return spec.success
    if actor.kind == "anonymous":
        return 401
    if spec.access == "any_signed_in":
        return spec.success
    if spec.access == "patient_or_staff" and actor.kind == "patient":
        return spec.success if actor.owns_target else 404
    if spec.access == "patient":
        if actor.kind != "patient":
            return 403
        # Another patient's object (a score id in the URL) is not found for them.
        return spec.success if actor.owns_target or spec.scope != "own_object" else 404
    if actor.kind != "staff" or actor.role not in spec.roles:
        return 403
    if actor.in_target_scope or spec.scope in ("none", "list"):
        return spec.success
    return OTHER_SITE_STATUS[spec.scope]


# A 422 raised by a service says "validation_failed"; one from webargs' schema check
# says "unprocessable_entity"; either is a validation refusal, never an authorisation one.
ERROR_CODES = {
    401: {"unauthenticated"},
    403: {"forbidden"},
    404: {"not_found"},
    422: {"validation_failed", "unprocessable_entity"},
}


def assert_error_envelope(response: TestResponse, status: int) -> None:
    body = json_of(response)
    assert {"code", "status", "message", "request_id"} <= set(body), body
    assert body["status"] == status
    assert body["code"] in ERROR_CODES[status]
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]


def _short(rule: str) -> str:
    for placeholder in OBJECT_PLACEHOLDERS:
        rule = rule.replace(placeholder, "<" + placeholder.split(":")[1])
    return rule.replace(PARTICIPANT_ID, "<id>")


def call(
    scene: Scene,
    method: str,
    rule: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    participant_id: int | None = None,
    multipart: bool = False,
) -> TestResponse:
    url = rule.replace(PARTICIPANT_ID, str(participant_id)) if PARTICIPANT_ID in rule else rule
    for placeholder, object_id in scene.objects.items():
        url = url.replace(placeholder, str(object_id))
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None and multipart:
        boundary, data = encode_multipart(MultiDict(body))
        kwargs.update(data=data, content_type=f"multipart/form-data; boundary={boundary}")
    elif body is not None:
        kwargs["json"] = body
    return scene.make.client.open(url, method=method, buffered=True, **kwargs)  # closes a streamed photo


def audit_count(scene: Scene) -> int:
    return (
        scene.make.db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.participant_id == scene.target.id)
        )
        or 0
    )


# --- the tests -----------------------------------------------------------------------


def test_role_sets_are_those_of_the_requirement() -> None:
    """The matrix takes its role sets from the policy; this pins the policy to the issue."""
    assert {"admin", "investigator", "nurse", "monitor"} == READ_PARTICIPANTS
    assert {"admin", "investigator", "nurse"} == MANAGE_PARTICIPANTS  # monitors read only
    assert {"admin", "investigator"} == WITHDRAW_PARTICIPANTS
    assert {"admin"} == MANAGE_LOCKS  # freeze and lock: study-level staff only


def test_every_route_has_an_authorization_spec(app: Flask) -> None:
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        # the portal's pages have their own matrix: tests/portal/test_authorization.py
        if rule.endpoint not in UNCHECKED_ENDPOINTS and not rule.endpoint.startswith("portal.")
        for method in rule.methods or ()
        if method not in UNCHECKED_METHODS
    }
    missing = sorted(served - ROUTES.keys())
    stale = sorted(ROUTES.keys() - served)
    assert not missing, f"routes without an entry in ROUTES (add who may call them): {missing}"
    assert not stale, f"ROUTES entries for routes the app no longer serves: {stale}"


MATRIX = [
    pytest.param(method, rule, actor, id=f"{method} {_short(rule)}-as-{actor.name}")
    for (method, rule) in ROUTES
    for actor in ACTORS
]


@pytest.mark.parametrize(("method", "rule", "actor"), MATRIX)
def test_route_as_actor(make: Factory, method: str, rule: str, actor: ActorSpec) -> None:
    spec = ROUTES[(method, rule)]
    scene = Scene(make, actor)
    if spec.prepare is not None:
        spec.prepare(scene)
    headers = scene.headers()
    body = spec.body(scene)
    participant_id = scene.target.id if PARTICIPANT_ID in rule else None
    audit_before = audit_count(scene) if scene.has_target else None

    response = call(scene, method, rule, body, headers, participant_id, spec.multipart)

    expected = expected_status(spec, actor)
    assert response.status_code == expected, response.json
    if expected >= 400:
        assert_error_envelope(response, expected)
        if expected == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        if audit_before is not None:
            assert audit_count(scene) == audit_before, "a refused request wrote to the audit trail"
    elif spec.check is not None:
        spec.check(scene, response)


PARTICIPANT_ROUTES = [
    pytest.param(method, rule, id=f"{method} {_short(rule)}")
    for (method, rule), spec in ROUTES.items()
    if spec.scope == "participant"
]


@pytest.mark.parametrize(("method", "rule"), PARTICIPANT_ROUTES)
def test_unknown_participant_id_is_404_even_for_admin(make: Factory, method: str, rule: str) -> None:
    spec = ROUTES[(method, rule)]
    scene = Scene(make, ActorSpec("admin", "staff", StaffRole.ADMIN))
    if spec.prepare is not None:
        spec.prepare(scene)
    headers = scene.headers()
    body = spec.body(scene)
    # No row has these ids: each test's database starts empty.
    scene.objects = {placeholder: object_id + 10_000 for placeholder, object_id in scene.objects.items()}
    response = call(scene, method, rule, body, headers, scene.target.id + 10_000, spec.multipart)
    assert response.status_code == 404, response.json
    assert_error_envelope(response, 404)


SIGNED_IN_ROUTES = [
    pytest.param(method, rule, id=f"{method} {_short(rule)}")
    for (method, rule), spec in ROUTES.items()
    if spec.access != "public"
]


@pytest.mark.parametrize(("method", "rule"), SIGNED_IN_ROUTES)
@pytest.mark.parametrize("headers", [{}, bearer("not-a-token")], ids=["no-token", "bad-token"])
def test_authentication_comes_before_validation(make: Factory, method: str, rule: str, headers: dict[str, str]) -> None:
    """An unsigned caller learns nothing about a route's arguments: 401, never 422."""
    url = rule
    for placeholder in (PARTICIPANT_ID, *OBJECT_PLACEHOLDERS):
        url = url.replace(placeholder, "1")
    body = None if method == "GET" else {"unexpected": "field"}
    query = "?status=no-such-status" if method == "GET" else ""
    response = make.client.open(url + query, method=method, json=body, headers=headers)
    assert response.status_code == 401, response.json
    assert_error_envelope(response, 401)


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.NURSE])
def test_staff_of_another_study_reach_none_of_its_participants(make: Factory, role: StaffRole) -> None:
    """Site codes repeat across studies (both have a TEH-01); scope is by site row, not code."""
    target = make.participant(site_code=TARGET_SITE)
    document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
    document = {**document, "study": {**document["study"], "code": "OTHER-STUDY-1"}}
    other_study = load_protocol(make.db, document, sha256, Actor.system("test"), utcnow()).study
    assert other_study.id != target.study_id
    stranger = create_staff(
        make.db,
        make.settings.secrets,
        Actor.system("test"),
        other_study,
        f"{role.value}@other.example",
        PASSWORD,
        role,
        [] if role == StaffRole.ADMIN else [TARGET_SITE],
        utcnow(),
    )
    headers = make.staff_headers(stranger)

    response = make.client.get(f"/api/v1/participants/{target.id}", headers=headers)
    assert response.status_code == 404, response.json
    response = make.client.post(
        f"/api/v1/participants/{target.id}/enrol", json={"reason": "wrong study"}, headers=headers
    )
    assert response.status_code == 404, response.json
    response = make.client.get("/api/v1/participants", headers=headers)
    assert response.status_code == 200, response.json
    assert _subject_codes(response) == []


@pytest.mark.parametrize(
    ("method", "rule", "body"),
    [
        pytest.param(
            "POST", "/api/v1/auth/staff/login", {"email": "nobody@site.example", "password": "wrong"}, id="login"
        ),
        pytest.param("POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"}, id="refresh"),
        pytest.param("POST", "/api/v1/auth/patient/activate", {"code": "AAAA-BBBB-CCCC"}, id="activate"),
        pytest.param("POST", "/api/v1/auth/patient/activate", {"code": "?"}, id="activate-malformed"),
    ],
)
def test_public_routes_refuse_wrong_credentials_not_the_caller(
    make: Factory, method: str, rule: str, body: dict[str, Any]
) -> None:
    make.study()
    response = make.client.open(rule, method=method, json=body)
    assert response.status_code in (401, 422), response.json
    assert_error_envelope(response, response.status_code)
    # The refusal is about the credentials in the body, never a demand for a bearer token.
    assert "WWW-Authenticate" not in response.headers
    assert "Authorization" not in json_of(response)["message"]


@pytest.fixture
def two_sites(make: Factory) -> dict[str, list[str]]:
    """Two participants at TEH-01, one at TEH-02."""
    make.participant(subject_code="TEH01-801", site_code="TEH-01")
    make.participant(subject_code="TEH01-802", site_code="TEH-01")
    make.participant(subject_code="TEH02-801", site_code="TEH-02")
    return {"TEH-01": ["TEH01-801", "TEH01-802"], "TEH-02": ["TEH02-801"]}


def test_participant_list_of_a_nurse_shows_only_her_site(make: Factory, two_sites: dict[str, list[str]]) -> None:
    headers = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    response = make.client.get("/api/v1/participants", headers=headers)
    assert response.status_code == 200, response.json
    assert _subject_codes(response) == two_sites["TEH-02"]
    # A filter narrows the scope; it never widens it.
    response = make.client.get("/api/v1/participants?site=TEH-01", headers=headers)
    assert response.status_code == 200, response.json
    assert _subject_codes(response) == []


def test_participant_list_is_readable_by_a_monitor(make: Factory, two_sites: dict[str, list[str]]) -> None:
    headers = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    response = make.client.get("/api/v1/participants", headers=headers)
    assert response.status_code == 200, response.json
    assert _subject_codes(response) == two_sites["TEH-01"]


def test_participant_list_is_refused_to_a_patient(make: Factory, two_sites: dict[str, list[str]]) -> None:
    own = make.db.scalar(select(Participant).where(Participant.subject_code == "TEH01-801"))
    assert own is not None
    response = make.client.get("/api/v1/participants", headers=make.patient_headers(own))
    assert response.status_code == 403, response.json
    assert_error_envelope(response, 403)
