"""Every API write of clinical data honours the locks: 423 for a locked visit (the records
whose study day falls in its window) or a locked participant, whoever writes; 423 for a
frozen one unless an admin writes; nothing stored or audited when refused. A lock of
another visit, or a released lock, blocks nothing. Replays are not writes."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.diary.models import PainScore
from backend.participants.models import Participant
from backend.studies.protocol import DEMO_PROTOCOL_PATH, document_sha256, read_protocol_file
from backend.studies.service import load_protocol
from tests.factories import Factory
from tests.images import jpeg_bytes, ulcer_photo
from tests.locks.helpers import (
    BASELINE_DAY,
    TODAY,
    audit_count,
    local_noon,
    new_uuid,
    refused,
    release,
    set_lock,
)

P = "/api/v1/participants"
NOW_TEHRAN = local_noon(TODAY)  # 12:00 local; the frozen clock says 12:30
EARLY_ULCER = "2026-01-20"  # an ulcer first seen before any write of these tests


@dataclass
class Ctx:
    make: Factory
    client: FlaskClient
    db: Session
    participant: Participant
    patient: dict[str, str]
    nurse: dict[str, str]
    admin: dict[str, str]

    @property
    def pid(self) -> int:
        return self.participant.id

    def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> TestResponse:
        response = self.client.post(url, json=body, headers=headers)
        return response

    def created(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.post(url, body, headers or self.patient)
        assert response.status_code == 201, response.json
        created: dict[str, Any] = response.json  # type: ignore[assignment]
        return created


@pytest.fixture
def ctx(
    make: Factory,
    client: FlaskClient,
    db: Session,
    participant: Participant,
    patient: dict[str, str],
    nurse: dict[str, str],
    admin: dict[str, str],
) -> Ctx:
    return Ctx(make, client, db, participant, patient, nurse, admin)


@cache
def _photo() -> bytes:
    return jpeg_bytes(ulcer_photo(11, (640, 480)).image)


def upload(ctx: Ctx, ulcer_id: int, headers: dict[str, str], recorded_at: str = NOW_TEHRAN) -> TestResponse:
    form = {
        "client_uuid": new_uuid(),
        "recorded_at": recorded_at,
        "image": FileStorage(io.BytesIO(_photo()), filename="photo.jpg"),
    }
    boundary, data = encode_multipart(MultiDict(form))
    return ctx.client.post(
        f"/api/v1/me/ulcers/{ulcer_id}/photos",
        data=data,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def pain_body(recorded_at: str = NOW_TEHRAN, **fields: Any) -> dict[str, Any]:
    return {"client_uuid": new_uuid(), "score": 4, "recorded_at": recorded_at, **fields}


def walk_body(recorded_at: str = NOW_TEHRAN) -> dict[str, Any]:
    return {"client_uuid": new_uuid(), "method": "phone_gps", "distance_m": 310.0, "recorded_at": recorded_at}


def symptom_body(recorded_at: str = NOW_TEHRAN) -> dict[str, Any]:
    day = recorded_at[:10]
    body = {"category": "swelling", "severity": "mild", "onset_date": day, "recorded_at": recorded_at}
    return {"client_uuid": new_uuid(), **body}


def ulcer_body(first_seen_on: str = TODAY.isoformat()) -> dict[str, Any]:
    label = f"U{new_uuid()[:6]}"
    return {
        "client_uuid": new_uuid(),
        "label": label,
        "leg": "right",
        "location": "heel",
        "first_seen_on": first_seen_on,
    }


def amputation_body(occurred_on: date = TODAY, level: str = "toe") -> dict[str, Any]:
    return {"client_uuid": new_uuid(), "occurred_on": occurred_on.isoformat(), "leg": "right", "level": level}


def correction(**changes: Any) -> dict[str, Any]:
    return {"client_uuid": new_uuid(), "reason": "checked with the patient", **changes}


# --- the write paths: each writes data of TODAY (study day 30, in M1's window) ---------------


@dataclass(frozen=True)
class WritePath:
    name: str
    writer: str  # "patient" or "staff": whose route it is
    send: Callable[[Ctx, dict[str, str], dict[str, Any]], TestResponse]
    prepare: Callable[[Ctx], dict[str, Any]] = lambda ctx: {}  # objects the write needs, made before any lock
    success: int = 201


def _ulcer(ctx: Ctx) -> dict[str, Any]:
    return {"ulcer": ctx.created("/api/v1/me/ulcers", ulcer_body(EARLY_ULCER))["id"]}


def _score(ctx: Ctx) -> dict[str, Any]:
    return {"score": ctx.created("/api/v1/me/pain-scores", pain_body())["id"]}


def _walk(ctx: Ctx) -> dict[str, Any]:
    return {"walk": ctx.created("/api/v1/me/walk-tests", walk_body())["id"]}


def _symptom(ctx: Ctx) -> dict[str, Any]:
    return {"report": ctx.created("/api/v1/me/symptoms", symptom_body())["id"]}


def _photo_of_today(ctx: Ctx) -> dict[str, Any]:
    ulcer = _ulcer(ctx)["ulcer"]
    response = upload(ctx, ulcer, ctx.patient)
    assert response.status_code == 201, response.json
    return {"photo": response.json["id"]}  # type: ignore[index]


def _amputation(ctx: Ctx) -> dict[str, Any]:
    return {"event": ctx.created(f"{P}/{ctx.pid}/amputations", amputation_body(), ctx.nurse)["id"]}


PATHS = [
    WritePath("pain_score", "patient", lambda c, h, o: c.post("/api/v1/me/pain-scores", pain_body(), h)),
    WritePath("walk_test", "patient", lambda c, h, o: c.post("/api/v1/me/walk-tests", walk_body(), h)),
    WritePath("symptom_report", "patient", lambda c, h, o: c.post("/api/v1/me/symptoms", symptom_body(), h)),
    WritePath("ulcer_by_patient", "patient", lambda c, h, o: c.post("/api/v1/me/ulcers", ulcer_body(), h)),
    WritePath("ulcer_photo", "patient", lambda c, h, o: upload(c, o["ulcer"], h), prepare=_ulcer),
    WritePath(
        "pain_correction_by_patient",
        "patient",
        lambda c, h, o: c.post(f"/api/v1/me/pain-scores/{o['score']}/corrections", correction(score=6), h),
        prepare=_score,
    ),
    WritePath("ulcer_by_staff", "staff", lambda c, h, o: c.post(f"{P}/{c.pid}/ulcers", ulcer_body(), h)),
    WritePath(
        "pain_correction_by_staff",
        "staff",
        lambda c, h, o: c.post(f"{P}/{c.pid}/pain-scores/{o['score']}/corrections", correction(score=6), h),
        prepare=_score,
    ),
    WritePath(
        "walk_correction",
        "staff",
        lambda c, h, o: c.post(f"{P}/{c.pid}/walk-tests/{o['walk']}/corrections", correction(distance_m=300.0), h),
        prepare=_walk,
    ),
    WritePath(
        "symptom_correction",
        "staff",
        lambda c, h, o: c.post(f"{P}/{c.pid}/symptoms/{o['report']}/corrections", correction(severity="moderate"), h),
        prepare=_symptom,
    ),
    WritePath(
        "photo_review",
        "staff",
        lambda c, h, o: c.post(
            f"/api/v1/photos/{o['photo']}/review", {"decision": "reject", "reject_reason": "blurred"}, h
        ),
        prepare=_photo_of_today,
    ),
    WritePath(
        "ulcer_closure",
        "staff",
        lambda c, h, o: c.post(f"{P}/{c.pid}/ulcers/{o['ulcer']}/closures", {"observed_on": TODAY.isoformat()}, h),
        prepare=_ulcer,
    ),
    WritePath("amputation", "staff", lambda c, h, o: c.post(f"{P}/{c.pid}/amputations", amputation_body(), h)),
    WritePath(
        "amputation_correction",
        "staff",
        lambda c, h, o: c.post(f"{P}/{c.pid}/amputations/{o['event']}/corrections", correction(level="ray"), h),
        prepare=_amputation,
    ),
]
PATH_PARAMS = [pytest.param(path, id=path.name) for path in PATHS]
STAFF_PATH_PARAMS = [pytest.param(path, id=path.name) for path in PATHS if path.writer == "staff"]


def writer(ctx: Ctx, path: WritePath) -> dict[str, str]:
    """A caller who may use the path when nothing is locked: the patient, or a nurse."""
    return ctx.patient if path.writer == "patient" else ctx.nurse


def assert_refused(ctx: Ctx, response: TestResponse, *phrases: str) -> None:
    body = refused(response, 423, "locked")
    for phrase in phrases:
        assert phrase in body["message"], body["message"]


@pytest.mark.parametrize("path", PATH_PARAMS)
def test_a_locked_visit_refuses_writes_to_its_days_even_from_an_admin(ctx: Ctx, path: WritePath) -> None:
    objects = path.prepare(ctx)
    lock = set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M1")
    before = audit_count(ctx.db, ctx.pid)

    response = path.send(ctx, writer(ctx, path), objects)
    assert_refused(ctx, response, f"Visit M1 of participant {ctx.participant.subject_code} is locked")
    assert response.json["errors"]["lock"] == {"id": lock["id"], "visit_code": "M1", "level": "locked"}  # type: ignore[index]
    if path.writer == "staff":
        assert_refused(ctx, path.send(ctx, ctx.admin, objects), "is locked")
    assert audit_count(ctx.db, ctx.pid) == before, "a refused write was audited (so it wrote)"


@pytest.mark.parametrize("path", PATH_PARAMS)
def test_locks_of_other_visits_do_not_block_a_write(ctx: Ctx, path: WritePath) -> None:
    objects = path.prepare(ctx)
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "BASELINE")
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M2")
    response = path.send(ctx, writer(ctx, path), objects)
    assert response.status_code == path.success, response.json


@pytest.mark.parametrize("path", PATH_PARAMS)
def test_a_locked_participant_refuses_every_write(ctx: Ctx, path: WritePath) -> None:
    objects = path.prepare(ctx)
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked")
    before = audit_count(ctx.db, ctx.pid)
    response = path.send(ctx, writer(ctx, path), objects)
    assert_refused(ctx, response, f"Participant {ctx.participant.subject_code} is locked")
    assert audit_count(ctx.db, ctx.pid) == before


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("visit_code", [None, "M1"], ids=["participant", "visit"])
def test_frozen_data_refuses_the_patient_and_nurses(ctx: Ctx, path: WritePath, visit_code: str | None) -> None:
    objects = path.prepare(ctx)
    set_lock(ctx.client, ctx.admin, ctx.pid, "frozen", visit_code)
    before = audit_count(ctx.db, ctx.pid)
    response = path.send(ctx, writer(ctx, path), objects)
    assert_refused(ctx, response, "is frozen", "only a study admin may change")
    assert audit_count(ctx.db, ctx.pid) == before


@pytest.mark.parametrize("path", STAFF_PATH_PARAMS)
@pytest.mark.parametrize("visit_code", [None, "M1"], ids=["participant", "visit"])
def test_frozen_data_may_be_changed_by_an_admin(ctx: Ctx, path: WritePath, visit_code: str | None) -> None:
    objects = path.prepare(ctx)
    set_lock(ctx.client, ctx.admin, ctx.pid, "frozen", visit_code)
    response = path.send(ctx, ctx.admin, objects)
    assert response.status_code == path.success, response.json


@pytest.mark.parametrize("path", PATH_PARAMS)
def test_after_a_release_writes_are_accepted_again(ctx: Ctx, path: WritePath) -> None:
    objects = path.prepare(ctx)
    lock = set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M1")
    assert path.send(ctx, writer(ctx, path), objects).status_code == 423
    release(ctx.client, ctx.admin, ctx.pid, lock["id"])
    response = path.send(ctx, writer(ctx, path), objects)
    assert response.status_code == path.success, response.json


# --- the window's edges, days other than today, corrections that move a day ---------------


@pytest.mark.parametrize(
    ("occurred_on", "status"),
    [
        (date(2026, 1, 16), 201),  # study day -15
        (date(2026, 1, 17), 423),  # -14: BASELINE's first day
        (date(2026, 1, 31), 423),  # 0: its last
        (date(2026, 2, 1), 201),  # 1
    ],
)
def test_a_visit_lock_covers_its_window_inclusively(ctx: Ctx, occurred_on: date, status: int) -> None:
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "BASELINE")
    response = ctx.post(f"{P}/{ctx.pid}/amputations", amputation_body(occurred_on), ctx.nurse)
    assert response.status_code == status, response.json


def test_a_patient_entry_of_a_locked_visit_day_is_refused_on_any_later_day(ctx: Ctx) -> None:
    """An offline entry recorded in the baseline window and sent today belongs to BASELINE."""
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "BASELINE")
    recorded = local_noon(BASELINE_DAY)
    assert_refused(ctx, ctx.post("/api/v1/me/walk-tests", walk_body(recorded), ctx.patient), "Visit BASELINE")
    assert_refused(ctx, ctx.post("/api/v1/me/pain-scores", pain_body(recorded), ctx.patient), "Visit BASELINE")
    assert ctx.post("/api/v1/me/walk-tests", walk_body(), ctx.patient).status_code == 201


def test_a_pain_score_counts_for_its_diary_day_not_the_day_it_was_sent(ctx: Ctx, clock: time_machine.Traveller) -> None:
    """M1 ends on study day 37 (2026-03-09). At 08:30 on day 38 the diary of day 37 is
    still open (grace until 10:00): that score is M1's, a score for day 38 is not."""
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M1")
    clock.move_to(datetime.fromisoformat("2026-03-10T08:30:00+03:30"))
    headers = ctx.make.patient_headers(ctx.participant)  # a fresh sign-in at the new time
    sent = "2026-03-10T08:30:00+03:30"
    assert_refused(ctx, ctx.post("/api/v1/me/pain-scores", pain_body(sent, diary_date="2026-03-09"), headers), "M1")
    response = ctx.post("/api/v1/me/pain-scores", pain_body(sent), headers)
    assert response.status_code == 201, response.json
    assert response.json["study_day"] == 38  # type: ignore[index]


@pytest.mark.parametrize(
    ("first", "moved_to"),
    [
        pytest.param(date(2026, 2, 10), date(2026, 1, 20), id="into-the-locked-window"),
        pytest.param(date(2026, 1, 20), date(2026, 2, 10), id="out-of-the-locked-window"),
    ],
)
def test_a_correction_may_not_move_an_event_into_or_out_of_a_locked_visit(
    ctx: Ctx, first: date, moved_to: date
) -> None:
    event = ctx.created(f"{P}/{ctx.pid}/amputations", amputation_body(first), ctx.nurse)
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "BASELINE")
    url = f"{P}/{ctx.pid}/amputations/{event['id']}/corrections"
    response = ctx.post(url, correction(occurred_on=moved_to.isoformat()), ctx.nurse)
    assert_refused(ctx, response, "Visit BASELINE")


def test_a_replay_of_a_stored_entry_still_answers_with_the_original(ctx: Ctx) -> None:
    """A phone that did not hear the first answer re-sends: that is not a write."""
    body = pain_body()
    original = ctx.created("/api/v1/me/pain-scores", body)
    fix = correction(score=7)
    corrected = ctx.created(f"{P}/{ctx.pid}/pain-scores/{original['id']}/corrections", fix, ctx.nurse)
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked")

    replay = ctx.post("/api/v1/me/pain-scores", body, ctx.patient)
    assert replay.status_code == 200, replay.json
    assert replay.json["id"] == original["id"]  # type: ignore[index]
    replay = ctx.post(f"{P}/{ctx.pid}/pain-scores/{original['id']}/corrections", fix, ctx.nurse)
    assert replay.status_code == 200, replay.json
    assert replay.json["id"] == corrected["id"]  # type: ignore[index]
    # A new entry is still refused.
    assert_refused(ctx, ctx.post("/api/v1/me/pain-scores", pain_body(), ctx.patient), "is locked")


# --- the offline batch ------------------------------------------------------------


def test_the_sync_refuses_locked_items_one_by_one_and_keeps_the_rest(ctx: Ctx) -> None:
    stored = pain_body()
    stored_id = ctx.created("/api/v1/me/pain-scores", stored)["id"]
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "BASELINE")
    set_lock(ctx.client, ctx.admin, ctx.pid, "frozen", "M1")
    baseline = local_noon(BASELINE_DAY)
    gap = local_noon(date(2026, 2, 10))  # study day 10: in no visit's window
    items = [
        {"kind": "walk_test", "data": walk_body(baseline)},  # BASELINE: locked
        {"kind": "walk_test", "data": walk_body(gap)},  # no visit: accepted
        {"kind": "symptom_report", "data": symptom_body()},  # M1: frozen, and the patient is no admin
        {"kind": "pain_score", "data": stored},  # a replay: answered as before
    ]
    response = ctx.client.post("/api/v1/me/sync", json={"items": items}, headers=ctx.patient)
    assert response.status_code == 200, response.json
    body = response.json
    assert body is not None
    assert (body["created"], body["duplicate"], body["refused"]) == (1, 1, 2)
    results = body["results"]
    assert [r["status"] for r in results] == ["refused", "created", "refused", "duplicate"]
    assert results[0]["code"] == "locked" and "Visit BASELINE" in results[0]["message"]
    assert results[0]["errors"]["lock"]["level"] == "locked"
    assert results[2]["code"] == "locked" and "frozen" in results[2]["message"]
    assert results[3]["id"] == stored_id
    walks = ctx.client.get(f"{P}/{ctx.pid}/walk-tests", headers=ctx.nurse).json
    assert [w["local_date"] for w in walks] == ["2026-02-10"]


# --- the participant's own record -------------------------------------------------


def test_a_locked_participant_record_cannot_be_updated_or_change_status(ctx: Ctx) -> None:
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked")
    before = audit_count(ctx.db, ctx.pid)
    patch = {"reason": "leg recorded wrongly", "target_leg": "left"}
    for headers in (ctx.nurse, ctx.admin):
        assert_refused(ctx, ctx.client.patch(f"{P}/{ctx.pid}", json=patch, headers=headers), "is locked")
        for transition in ("complete", "withdraw"):
            response = ctx.post(f"{P}/{ctx.pid}/{transition}", {"reason": "end of study"}, headers)
            if headers is ctx.nurse and transition == "withdraw":
                refused(response, 403, "forbidden")  # nurses may not withdraw at all
            else:
                assert_refused(ctx, response, "is locked")
    assert audit_count(ctx.db, ctx.pid) == before
    ctx.db.expire_all()
    assert (ctx.participant.status.value, ctx.participant.target_leg.value) == ("active", "right")


def test_a_locked_screening_participant_cannot_be_enrolled(ctx: Ctx) -> None:
    screening = ctx.make.participant()
    set_lock(ctx.client, ctx.admin, screening.id, "locked")
    assert_refused(ctx, ctx.post(f"{P}/{screening.id}/enrol", {"reason": "eligible"}, ctx.nurse), "is locked")


def test_a_frozen_participant_record_is_changed_by_an_admin_only(ctx: Ctx) -> None:
    set_lock(ctx.client, ctx.admin, ctx.pid, "frozen")
    patch = {"reason": "leg recorded wrongly", "target_leg": "left"}
    assert_refused(ctx, ctx.client.patch(f"{P}/{ctx.pid}", json=patch, headers=ctx.nurse), "is frozen")
    response = ctx.client.patch(f"{P}/{ctx.pid}", json=patch, headers=ctx.admin)
    assert response.status_code == 200, response.json
    assert response.json["target_leg"] == "left"  # type: ignore[index]
    response = ctx.post(f"{P}/{ctx.pid}/complete", {"reason": "follow-up done"}, ctx.admin)
    assert response.status_code == 200, response.json


def test_a_visit_lock_leaves_the_participant_record_alone_except_day0(ctx: Ctx) -> None:
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M1")
    response = ctx.client.patch(
        f"{P}/{ctx.pid}", json={"reason": "prefers English", "language": "en"}, headers=ctx.nurse
    )
    assert response.status_code == 200, response.json
    # Moving day 0 moves every record's study day, into or out of M1's window.
    moved = {"reason": "injection date typed wrongly", "day0_date": "2026-02-01"}
    for headers in (ctx.nurse, ctx.admin):
        response = ctx.client.patch(f"{P}/{ctx.pid}", json=moved, headers=headers)
        assert_refused(ctx, response, "Visit M1", "is locked")
    same = {"reason": "confirmed", "day0_date": "2026-01-31"}  # not a move
    assert ctx.client.patch(f"{P}/{ctx.pid}", json=same, headers=ctx.nurse).status_code == 200
    response = ctx.post(f"{P}/{ctx.pid}/withdraw", {"reason": "moved away"}, ctx.admin)
    assert response.status_code == 200, response.json


def test_day0_under_a_frozen_visit_is_moved_by_an_admin_only(ctx: Ctx) -> None:
    ctx.created("/api/v1/me/pain-scores", pain_body())
    set_lock(ctx.client, ctx.admin, ctx.pid, "frozen", "BASELINE")
    moved = {"reason": "injection date typed wrongly", "day0_date": "2026-02-01"}
    assert_refused(ctx, ctx.client.patch(f"{P}/{ctx.pid}", json=moved, headers=ctx.nurse), "is frozen")
    assert ctx.db.scalars(select(PainScore.study_day)).all() == [30]
    response = ctx.client.patch(f"{P}/{ctx.pid}", json=moved, headers=ctx.admin)
    assert response.status_code == 200, response.json
    ctx.db.expire_all()
    assert ctx.db.scalars(select(PainScore.study_day)).all() == [29]


def test_a_visit_lock_refuses_target_leg_and_time_zone_changes(ctx: Ctx) -> None:
    # The target leg decides the amputation endpoints, the zone the local days the sync
    # counts in: both reach into the locked visit.
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M1")
    for change in ({"target_leg": "left"}, {"timezone": "Europe/Berlin"}):
        for headers in (ctx.nurse, ctx.admin):
            response = ctx.client.patch(f"{P}/{ctx.pid}", json={"reason": "record fixed", **change}, headers=headers)
            assert_refused(ctx, response, "Visit M1", "is locked")


@pytest.mark.parametrize("amend", ["move", "rename"])
def test_a_new_protocol_version_does_not_unlock_a_locked_visit(ctx: Ctx, amend: str) -> None:
    set_lock(ctx.client, ctx.admin, ctx.pid, "locked", "M1")  # today is in M1 (days 23..37)
    document = copy.deepcopy(read_protocol_file(DEMO_PROTOCOL_PATH)[0])
    document["version"] = "1.0.2"
    month1 = next(v for v in document["visits"] if v["code"] == "M1")
    if amend == "move":
        month1.update(target_day=40, window={"start": 33, "end": 47})  # today no longer in it
    else:
        month1["code"] = "MONTH1"
    load_protocol(ctx.db, document, document_sha256(document), Actor.system("test"), utcnow())

    response = ctx.client.post("/api/v1/me/pain-scores", json=pain_body(), headers=ctx.patient)

    assert_refused(ctx, response, "Visit M1", "is locked")
