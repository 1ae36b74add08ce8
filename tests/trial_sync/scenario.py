"""The reference scenario of the trial sync: three participants of the demo protocol
(P-MSC CLI phase I) followed for 200 days, every record entered through the real API (or
the real participant status service) at the moment it happens, on a frozen clock.

Day 0 of all three is Sunday 1 March 2026, in Asia/Tehran (+03:30, no DST); they are
enrolled on 10 February 2026 (day -19). Times below are Tehran wall-clock times. The
expected endpoint rows are worked out by hand in test_reference_scenario.py; this module
only plays the story and keeps the ids of what it created (for the source_ids).

A "responder", with one ulcer that heals
  diary  BASELINE -5:7, -3:5 at 09:00 then 8 at 20:00 (the 8 counts), -1:6 (entered on
         day 0 at 08:30 in the grace time), 0:7; day 10:6 (in no window);
         M1 24:5 27:4 30:4 33:3; M2 55:4 60:3 65:2; M3 85:3 90:2 95:2 96:1;
         M4 115:2 120:2 125:1; M5 145:1 150:2 155:1; M6 170:1 180:0 190:1
  walks  phone_gps -7:250 -2:280 28:300 60:330 90:350 120:340 124:365 150:380 180:420
         (180's 420 is corrected by staff to 402 after the first full run);
         clinic_course -1:400 (another instrument: never counts)
  ulcer  "A", first seen day -20: photos -3 (corrected to the marker square, 400 mm2),
         26 (square, 400), 28 (rejected), 29 (left unreviewed), 30 (half the square,
         200), 58 (a quarter of the square, 100), 85 (quarter, 100); closures observed
         on days 85 and 115
  amputations  a toe of the target (right) leg on day -5 (before day 0: not an outcome),
         a toe of the left leg on day 100 (not the target leg)

B  a non-responder with missed windows, a major amputation, two ulcers
  diary  BASELINE -10:5 -6:6 -2:4; M1 only 25:5 32:6; M2 54:5 60:5 66:4 (60's 5 is
         corrected by staff to 1 after the first full run); M3 85:6 86:6 90:7;
         M4 115:5 116:5 117:5; M5 none; M6 170:4 175:4 180:4 185:3
  walks  phone_gps -4:150 60:160 120:120 181:180; clinic_course 30:500;
         phone_pedometer 150:600 (other instruments); none at all in M3
  ulcer  "HEEL", first seen day -10: closures observed on -1, 30 and 58, and between
         them a photo on day 10 corrected to a quarter of the square (100 mm2: it had
         opened again)
  ulcer  "TOE" of the left foot, first seen day 50 (registered day 55): photos 60 (square, 400),
         62 (rejected), 150 (half, 200)
  amputations  a toe of the right leg on day 40, voided by staff on day 45; a
         transtibial (major) amputation of the right leg on day 140 (entered day 141)

C  withdraws on day 100
  diary  day 22:9 (just before M1); BASELINE -3:6 -2:6 -1:9; M1 23:4 30:5 37:3 (the
         window's edges); day 38:9 (just after); M2 60:6 61:6 62:6; M3 83:5 90:5 97:5;
         day 99:4 (in no window)
  walks  phone_gps -6:300 30:310 62:290 88:330
  ulcer  "A", first seen day -30: photos -2 (the estimate accepted: its area is read
         back), 33 (square, 400), 90 (half, 200)
  withdrawn on day 100 at 11:00 (participants status service)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.service import change_status
from backend.staff.models import StaffUser
from backend.ulcers.models import UlcerClosure
from tests.diary.helpers import TEHRAN, Patient, enrolled_patient
from tests.factories import Factory
from tests.ulcers.helpers import OWN_ULCERS, synthetic, upload

DAY0 = date(2026, 3, 1)
ENROLLED = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)  # 11:30 in Tehran on day -19

Key = tuple[Any, ...]


def at(day: int, hh_mm: str = "20:00") -> datetime:
    """A Tehran wall-clock time on a study day, in UTC."""
    return datetime.combine(DAY0 + timedelta(days=day), time.fromisoformat(hh_mm), tzinfo=TEHRAN).astimezone(UTC)


def _center(corners: list[list[float]]) -> list[float]:
    """Where the marker's diagonals cross in the image: the image of the square's centre
    (a homography keeps straight lines and their crossings)."""
    (x1, y1), (x2, y2), (x3, y3), (x4, y4) = corners[0], corners[2], corners[1], corners[3]
    d = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
    t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / d
    return [x1 + t * (x2 - x1), y1 + t * (y2 - y1)]


def outline(shape: str, corners: list[list[float]]) -> list[list[float]]:
    """A nurse's corrected outline drawn on the 20 mm calibration square, so that its area
    on the skin plane is known exactly: the square 400 mm2, half of it (a triangle of three
    corners) 200 mm2, a quarter (two corners and the centre) 100 mm2."""
    if shape == "square":
        return corners
    if shape == "half":
        return corners[:3]
    if shape == "quarter":
        return [corners[0], corners[1], _center(corners)]
    raise ValueError(shape)


@dataclass
class Scenario:
    make: Factory
    db: Session
    client: FlaskClient
    clock: time_machine.Traveller
    nurse: StaffUser
    patients: dict[str, Patient]
    ids: dict[Key, int] = field(default_factory=dict)
    areas: dict[Key, float] = field(default_factory=dict)
    ulcers: dict[Key, int] = field(default_factory=dict)
    _events: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)

    # -- the story ---------------------------------------------------------------------

    def code(self, who: str) -> str:
        return self.patients[who].participant.subject_code

    def play_until(self, instant: datetime) -> None:
        """Carry out, in time order, every event up to `instant`; leave the clock there."""
        self._events.sort(key=lambda e: (e[0], e[1]))
        while self._events and self._events[0][0] <= instant:
            when, _, action = self._events.pop(0)
            self.clock.move_to(when)
            action()
        self.clock.move_to(instant)

    def _on(self, when: datetime, action: Callable[[], None]) -> None:
        self._events.append((when, len(self._events), action))

    def _staff(self) -> dict[str, str]:
        return self.make.staff_headers(self.nurse)

    # -- events ------------------------------------------------------------------------

    def diary(self, who: str, scores: dict[int, int], hh_mm: str = "20:00") -> None:
        for day, score in scores.items():
            self.score(who, day, score, hh_mm)

    def score(self, who: str, day: int, score: int, hh_mm: str = "20:00", entered_on: int | None = None) -> None:
        """The day's score, entered on the day itself (or, with `entered_on` = day + 1 and
        a morning time, in the next morning's grace time with the diary date asked for)."""
        entered = at(day if entered_on is None else entered_on, hh_mm)

        def post() -> None:
            extra = {} if entered_on is None else {"diary_date": (DAY0 + timedelta(days=day)).isoformat()}
            response = self.patients[who].post_score(score, entered.astimezone(TEHRAN), **extra)
            assert response.status_code == 201, response.json
            assert response.json["diary_date"] == (DAY0 + timedelta(days=day)).isoformat()
            self.ids[(who, "pain", day, hh_mm)] = response.json["id"]

        self._on(entered, post)

    def walk(self, who: str, day: int, distance_m: float, method: str = "phone_gps") -> None:
        def post() -> None:
            extra: dict[str, Any] = {}
            if method in ("clinic_course", "home_course"):
                extra = {"course_length_m": 30.0, "laps": int(distance_m // 30)}
            response = self.patients[who].post_walk(distance_m, at(day, "18:00").astimezone(TEHRAN), method, **extra)
            assert response.status_code == 201, response.json
            self.ids[(who, "walk", day)] = response.json["id"]

        self._on(at(day, "18:00"), post)

    def ulcer(
        self, who: str, label: str, first_seen: int, registered: int, location: str = "heel", leg: str = "right"
    ) -> None:
        def post() -> None:
            body = {
                "client_uuid": str(uuid.uuid4()),
                "label": label,
                "leg": leg,
                "location": location,
                "first_seen_on": (DAY0 + timedelta(days=first_seen)).isoformat(),
            }
            patient = self.patients[who]
            response = self.client.post(OWN_ULCERS, json=body, headers=patient.headers)
            assert response.status_code == 201, response.json
            self.ulcers[(who, label)] = response.json["id"]

        self._on(at(registered, "11:00"), post)

    def photo(self, who: str, label: str, day: int, review: str | None) -> None:
        """A photo taken at 12:00 on `day`, reviewed at once by the nurse: "accept" (the
        estimate's area), "reject", a corrected outline ("square", "half", "quarter"), or
        None (left in the queue)."""

        def post() -> None:
            # Each ulcer its own image (two ulcers tapped in one image must be two wounds); the
            # marker square of each measures 400.0 mm², its half 200.0, and the estimate of each is
            # trusted (ok), so it can be accepted.
            data, truth = synthetic(11 if label == "TOE" else 12)
            patient = self.patients[who]
            uploaded = upload(
                self.client,
                patient.headers,
                self.ulcers[(who, label)],
                data,
                seed_x=truth.seed_px[0],
                seed_y=truth.seed_px[1],
            )
            assert uploaded.status_code == 201, uploaded.json
            photo = uploaded.json
            assert photo["local_date"] == (DAY0 + timedelta(days=day)).isoformat()
            self.ids[(who, label, "photo", day)] = photo["id"]
            if review is None:
                return
            if review == "accept":
                body: dict[str, Any] = {"decision": "accept"}
            elif review == "reject":
                body = {"decision": "reject", "reject_reason": "blurred"}
            else:
                body = {"decision": "correct", "outline": outline(review, photo["analysis"]["marker_corners"])}
            reviewed = self.client.post(f"/api/v1/photos/{photo['id']}/review", json=body, headers=self._staff())
            assert reviewed.status_code == 201, reviewed.json
            self.areas[(who, label, day)] = reviewed.json["review"]["area_mm2"]

        self._on(at(day, "12:00"), post)

    def closure(self, who: str, label: str, observed: int, entered: int | None = None) -> None:
        def post() -> None:
            participant = self.patients[who].participant
            ulcer_id = self.ulcers[(who, label)]
            response = self.client.post(
                f"/api/v1/participants/{participant.id}/ulcers/{ulcer_id}/closures",
                json={"observed_on": (DAY0 + timedelta(days=observed)).isoformat(), "note": "fully epithelialised"},
                headers=self._staff(),
            )
            assert response.status_code == 201, response.json
            closure_id = self.db.scalar(
                select(UlcerClosure.id).where(
                    UlcerClosure.ulcer_id == ulcer_id, UlcerClosure.observed_on == DAY0 + timedelta(days=observed)
                )
            )
            assert closure_id is not None
            self.ids[(who, label, "closure", observed)] = closure_id

        self._on(at(observed if entered is None else entered, "13:00"), post)

    def amputation(self, who: str, name: str, occurred: int, entered: int, leg: str, level: str) -> None:
        def post() -> None:
            participant = self.patients[who].participant
            body = {
                "client_uuid": str(uuid.uuid4()),
                "occurred_on": (DAY0 + timedelta(days=occurred)).isoformat(),
                "leg": leg,
                "level": level,
            }
            response = self.client.post(
                f"/api/v1/participants/{participant.id}/amputations", json=body, headers=self._staff()
            )
            assert response.status_code == 201, response.json
            self.ids[(who, "amputation", name)] = response.json["id"]

        self._on(at(entered, "14:00"), post)

    def void_amputation(self, who: str, name: str, day: int) -> None:
        def post() -> None:
            participant = self.patients[who].participant
            event_id = self.ids[(who, "amputation", name)]
            body = {"client_uuid": str(uuid.uuid4()), "voided": True, "reason": "entered on the wrong participant"}
            response = self.client.post(
                f"/api/v1/participants/{participant.id}/amputations/{event_id}/corrections",
                json=body,
                headers=self._staff(),
            )
            assert response.status_code == 201, response.json
            assert response.json["voided"] is True
            self.ids[(who, "amputation", name, "voided")] = response.json["id"]

        self._on(at(day, "14:00"), post)

    def withdraw(self, who: str, day: int, hh_mm: str) -> None:
        def act() -> None:
            participant = self.patients[who].participant
            actor = Actor.system("test", study_id=participant.study_id)
            change_status(self.db, actor, participant.id, "withdraw", "moved to another city", at(day, hh_mm))

        self._on(at(day, hh_mm), act)

    # -- staff corrections, made on the spot (after the story) ---------------------------

    def correct_walk(self, who: str, day: int, distance_m: float) -> int:
        participant = self.patients[who].participant
        body = {"client_uuid": str(uuid.uuid4()), "distance_m": distance_m, "reason": "GPS track re-checked"}
        url = f"/api/v1/participants/{participant.id}/walk-tests/{self.ids[(who, 'walk', day)]}/corrections"
        response = self.client.post(url, json=body, headers=self._staff())
        assert response.status_code == 201, response.json
        assert response.json["distance_m"] == distance_m
        return int(response.json["id"])

    def correct_score(self, who: str, day: int, score: int, hh_mm: str = "20:00") -> int:
        participant = self.patients[who].participant
        body = {"client_uuid": str(uuid.uuid4()), "score": score, "reason": "typing slip, confirmed by phone"}
        url = f"/api/v1/participants/{participant.id}/pain-scores/{self.ids[(who, 'pain', day, hh_mm)]}/corrections"
        response = self.client.post(url, json=body, headers=self._staff())
        assert response.status_code == 201, response.json
        return int(response.json["id"])


def build(make: Factory, db: Session, client: FlaskClient, clock: time_machine.Traveller) -> Scenario:
    """Register and enrol A, B and C (clock at day -19) and schedule their story."""
    clock.move_to(ENROLLED)
    patients = {who: enrolled_patient(make, ENROLLED, day0_date=DAY0.isoformat()) for who in "ABC"}
    s = Scenario(make, db, client, clock, make.staff("nurse", sites=("TEH-01",)), patients)

    # A ---------------------------------------------------------------------------------
    s.diary("A", {-5: 7})
    s.score("A", -3, 5, "09:00")  # superseded the same evening
    s.score("A", -3, 8)
    s.score("A", -1, 6, "08:30", entered_on=0)  # the grace time of the next morning
    s.diary("A", {0: 7, 10: 6})
    s.diary("A", {24: 5, 27: 4, 30: 4, 33: 3})
    s.diary("A", {55: 4, 60: 3, 65: 2})
    s.diary("A", {85: 3, 90: 2, 95: 2, 96: 1})
    s.diary("A", {115: 2, 120: 2, 125: 1})
    s.diary("A", {145: 1, 150: 2, 155: 1})
    s.diary("A", {170: 1, 180: 0, 190: 1})
    for day, distance in {-7: 250, -2: 280, 28: 300, 60: 330, 90: 350, 120: 340, 124: 365, 150: 380, 180: 420}.items():
        s.walk("A", day, distance)
    s.walk("A", -1, 400, "clinic_course")
    s.ulcer("A", "A", first_seen=-20, registered=-4)
    s.photo("A", "A", -3, "square")
    s.photo("A", "A", 26, "square")
    s.photo("A", "A", 28, "reject")
    s.photo("A", "A", 29, None)
    s.photo("A", "A", 30, "half")
    s.photo("A", "A", 58, "quarter")
    s.photo("A", "A", 85, "quarter")
    s.closure("A", "A", 85, entered=86)
    s.closure("A", "A", 115)
    s.amputation("A", "toe before day 0", occurred=-5, entered=-5, leg="right", level="toe")
    s.amputation("A", "left toe", occurred=100, entered=101, leg="left", level="toe")

    # B ---------------------------------------------------------------------------------
    s.diary("B", {-10: 5, -6: 6, -2: 4})
    s.diary("B", {25: 5, 32: 6})
    s.diary("B", {54: 5, 60: 5, 66: 4})
    s.diary("B", {85: 6, 86: 6, 90: 7})
    s.diary("B", {115: 5, 116: 5, 117: 5})
    s.diary("B", {170: 4, 175: 4, 180: 4, 185: 3})
    for day, distance in {-4: 150, 60: 160, 120: 120, 181: 180}.items():
        s.walk("B", day, distance)
    s.walk("B", 30, 500, "clinic_course")
    s.walk("B", 150, 600, "phone_pedometer")
    s.ulcer("B", "HEEL", first_seen=-10, registered=-10)
    s.closure("B", "HEEL", -1)
    s.photo("B", "HEEL", 10, "quarter")
    s.closure("B", "HEEL", 30)
    s.closure("B", "HEEL", 58)
    s.ulcer("B", "TOE", first_seen=50, registered=55, location="hallux", leg="left")
    s.photo("B", "TOE", 60, "square")
    s.photo("B", "TOE", 62, "reject")
    s.photo("B", "TOE", 150, "half")
    s.amputation("B", "toe", occurred=40, entered=40, leg="right", level="toe")
    s.void_amputation("B", "toe", 45)
    s.amputation("B", "transtibial", occurred=140, entered=141, leg="right", level="transtibial")

    # C ---------------------------------------------------------------------------------
    s.diary("C", {-3: 6, -2: 6, -1: 9})
    s.diary("C", {22: 9, 23: 4, 30: 5, 37: 3, 38: 9})
    s.diary("C", {60: 6, 61: 6, 62: 6})
    s.diary("C", {83: 5, 90: 5, 97: 5, 99: 4})
    for day, distance in {-6: 300, 30: 310, 62: 290, 88: 330}.items():
        s.walk("C", day, distance)
    s.ulcer("C", "A", first_seen=-30, registered=-3)
    s.photo("C", "A", -2, "accept")
    s.photo("C", "A", 33, "square")
    s.photo("C", "A", 90, "half")
    s.withdraw("C", 100, "11:00")
    return s
