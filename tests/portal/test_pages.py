"""The portal through its forms, as a browser would use it (cookies, CSRF tokens), on the
real services and database."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.models import AuthSession, AuthToken
from backend.flags.models import Flag, FlagKind
from backend.flags.service import raise_flag
from backend.participants.models import ParticipantStatus
from backend.ulcers.models import PhotoReview, ReviewStatus, UlcerPhoto
from tests.conftest import CountQueries
from tests.factories import PASSWORD, Factory
from tests.portal.conftest import NOW, Scene
from tests.portal.helpers import Browser, signed_in


def test_signing_in_sets_a_portal_only_http_only_cookie(app: Flask, scene: Scene) -> None:
    browser = Browser(app)
    assert browser.get("/portal/today").location.startswith("/portal/sign-in?next=/portal/today")

    response = browser.sign_in(scene.nurse)

    assert response.status_code == 302 and response.location == "/portal/today"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("limbtrack_portal=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/portal" in cookie
    assert "Secure" not in cookie  # tests run as "testing"; every other environment sets it
    assert browser.get("/portal/today").status_code == 200


def test_a_wrong_password_is_refused_on_the_sign_in_page(app: Flask, scene: Scene) -> None:
    browser = Browser(app)

    response = browser.sign_in(scene.nurse, password="not the password")

    assert response.status_code == 401
    assert "E-mail or password is wrong" in browser.text(response)
    assert browser.get("/portal/today").status_code == 302


def test_a_form_without_the_sessions_csrf_token_changes_nothing(app: Flask, scene: Scene, db: Session) -> None:
    browser = signed_in(app, scene.nurse)
    flag = db.scalars(select(Flag).where(Flag.urgent.is_(True))).one()

    forged = browser.client.post(f"/portal/flags/{flag.id}/acknowledge", data={"note": "seen", "csrf_token": "forged"})

    assert forged.status_code == 400
    assert "did not come from this portal" in browser.text(forged)
    db.refresh(flag)
    assert flag.acknowledged_at is None


def test_an_idle_portal_signs_out_and_a_busy_one_outlives_its_access_token(
    app: Flask, scene: Scene, clock: time_machine.Traveller, db: Session
) -> None:
    browser = signed_in(app, scene.nurse)
    clock.move_to(NOW + timedelta(minutes=20))  # the access token (15 minutes) has expired
    assert browser.get("/portal/today").status_code == 200  # refreshed with the refresh token

    clock.move_to(NOW + timedelta(minutes=51))  # 31 minutes idle
    response = browser.get("/portal/today")

    assert response.status_code == 302 and "/portal/sign-in" in response.location
    sessions = db.scalars(select(AuthSession).where(AuthSession.staff_user_id == scene.nurse.id)).all()
    assert [s.revoked_reason for s in sessions] == ["idle_timeout"]


def test_signing_out_ends_the_staff_session(app: Flask, scene: Scene, db: Session) -> None:
    browser = signed_in(app, scene.nurse)
    browser.get("/portal/today")

    response = browser.post("/portal/sign-out")

    assert response.location == "/portal/sign-in"
    assert browser.get("/portal/today").status_code == 302
    session = db.scalars(select(AuthSession).where(AuthSession.staff_user_id == scene.nurse.id)).one()
    assert session.revoked_at is not None


def test_the_next_page_after_sign_in_is_always_a_portal_page(app: Flask, scene: Scene) -> None:
    browser = Browser(app)
    browser.get("/portal/sign-in")

    response = browser.post(
        "/portal/sign-in?next=https://evil.example/portal/",
        {"email": scene.nurse.email, "password": "correct horse battery staple"},
    )

    assert response.location == "/portal/today"


def test_today_puts_urgent_flags_first_and_lists_photos_and_missed_diaries(app: Flask, scene: Scene) -> None:
    page = signed_in(app, scene.nurse).get("/portal/today")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    first_flag = html.index('<li class="urgent">')
    assert first_flag < html.index("late entry") if "late entry" in html else True
    assert "Urgent" in html and "fever" in html
    for photo_id in scene.photos:
        assert f"/portal/photos/{photo_id}" in html
    missed = html[html.index('id="missed-h"') :]
    assert scene.patient.participant.subject_code in missed
    assert scene.other.participant.subject_code not in html  # another site's participant


def test_the_participant_page_draws_its_charts_and_lists_its_records(app: Flask, scene: Scene) -> None:
    page = signed_in(app, scene.nurse).get(f"/portal/participants/{scene.patient.id}")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("<svg") >= 3  # pain, walk, ulcer
    assert "Study day</dt><dd>11</dd>" in html.replace("\n", "").replace("  ", "")
    assert "fever" in html and "severe" in html
    assert "auth.login" not in html  # the audit trail is the participant's, not the nurse's
    assert "participant.create" in html


def test_a_portal_page_commits_once_whatever_it_reads(app: Flask, scene: Scene, count_queries: CountQueries) -> None:
    """The participant page reads a dozen kinds of records, each read logged: the logs
    are committed together at the end of the request, with the portal session's renewal."""
    browser = signed_in(app, scene.nurse)
    with count_queries() as counted:
        page = browser.get(f"/portal/participants/{scene.patient.id}")

    assert page.status_code == 200
    assert counted.commits == 1


def test_a_nurse_clears_the_queue_accept_correct_reject(app: Flask, scene: Scene, db: Session) -> None:
    browser = signed_in(app, scene.nurse)
    first, second, third = scene.photos

    browser.get(f"/portal/photos/{first}")
    accepted = browser.post(f"/portal/photos/{first}/review", {"decision": "accept"})
    assert accepted.location == f"/portal/photos/{second}"  # straight to the next in the queue

    page = browser.get(f"/portal/photos/{second}")
    geometry = json.loads(re.search(r'data-geometry="([^"]+)"', browser.text(page))[1].replace("&#34;", '"'))
    outline = [[x + (15 if i == 0 else 0), y] for i, (x, y) in enumerate(geometry["outline"])]
    corrected = browser.post(f"/portal/photos/{second}/review", {"decision": "correct", "outline": json.dumps(outline)})
    assert corrected.location == f"/portal/photos/{third}"

    browser.get(f"/portal/photos/{third}")
    rejected = browser.post(f"/portal/photos/{third}/review", {"decision": "reject", "reject_reason": "blurred"})
    assert rejected.location == "/portal/today"

    photos = {p.id: p for p in db.scalars(select(UlcerPhoto).where(UlcerPhoto.id.in_(scene.photos)))}
    assert [photos[i].review_status for i in scene.photos] == [
        ReviewStatus.ACCEPTED,
        ReviewStatus.CORRECTED,
        ReviewStatus.REJECTED,
    ]
    review = db.scalars(select(PhotoReview).where(PhotoReview.photo_id == second)).one()
    assert review.outline == outline and review.reviewed_by_id == scene.nurse.id


def test_a_bad_outline_is_refused_with_the_field_named(app: Flask, scene: Scene, db: Session) -> None:
    browser = signed_in(app, scene.nurse)
    browser.get(f"/portal/photos/{scene.photos[0]}")

    response = browser.post(f"/portal/photos/{scene.photos[0]}/review", {"decision": "correct", "outline": "[[1, 2]]"})

    assert response.status_code == 422
    assert "outline" in browser.text(response)
    assert db.scalars(select(PhotoReview)).first() is None


def test_an_activation_code_is_shown_with_its_qr_code_and_activates_the_app(
    app: Flask, scene: Scene, make: Factory
) -> None:
    browser = signed_in(app, scene.nurse)

    issued = browser.post(
        f"/portal/participants/{scene.patient.id}/activation-code", from_page=f"/portal/participants/{scene.patient.id}"
    )
    assert issued.status_code == 302  # post/redirect/get: a reload does not issue another code
    page = browser.get(issued.location)

    html = browser.text(page)
    assert page.status_code == 200 and "<svg" in html
    code = re.search(r'id="activation-code">([^<]+)<', html)[1]
    activated = make.client.post("/api/v1/auth/patient/activate", json={"code": code, "platform": "ios"})
    assert activated.status_code == 201, activated.json
    again = browser.get(issued.location)  # shown once: a reload goes back to the participant
    assert again.status_code == 302 and again.location == f"/portal/participants/{scene.patient.id}"


def test_only_investigators_withdraw_and_they_give_a_reason(app: Flask, scene: Scene, db: Session) -> None:
    url = f"/portal/participants/{scene.patient.id}"
    nurse = signed_in(app, scene.nurse)
    assert "Withdraw</button>" not in nurse.text(nurse.get(url))
    refused = nurse.post(f"{url}/status/withdraw", {"reason": "moved away"})
    assert refused.status_code == 403

    investigator = signed_in(app, scene.investigator)
    investigator.get(url)
    assert investigator.post(f"{url}/status/withdraw", {"reason": " "}).status_code == 422
    assert investigator.post(f"{url}/status/withdraw", {"reason": "moved away"}, from_page=url).status_code == 302

    db.refresh(scene.patient.participant)
    assert scene.patient.participant.status == ParticipantStatus.WITHDRAWN


def test_register_then_enrol_a_participant(app: Flask, scene: Scene) -> None:
    browser = signed_in(app, scene.nurse)
    browser.get("/portal/participants/new")
    form = {
        "subject_code": "TEH01-900",
        "site_code": "TEH-01",
        "cohort_code": "HIGH",
        "target_leg": "left",
        "timezone": "Asia/Tehran",
        "language": "fa",
        "day0_date": "",
        "consent_version": "2.0",
        "consent_date": "2026-03-11",
    }

    created = browser.post("/portal/participants/new", form)
    assert created.status_code == 302
    page = browser.get(created.location)
    assert "TEH01-900" in browser.text(page) and "screening" in browser.text(page)
    enrolled = browser.post(f"{created.location}/status/enrol", {"reason": "eligible"})
    assert enrolled.status_code == 302
    assert "active" in browser.text(browser.get(created.location))


def test_the_cookie_holds_nothing_that_works_against_the_api(app: Flask, scene: Scene, make: Factory) -> None:
    browser = signed_in(app, scene.nurse)
    with browser.client.session_transaction("/portal/") as cookie:
        values = dict(cookie)

    assert set(values) == {"sid", "csrf"}
    response = make.client.get("/api/v1/participants", headers={"Authorization": f"Bearer {values['sid']}"})
    assert response.status_code == 401
    # nor does the staff session behind it have a token anyone holds
    tokens = make.db.scalars(
        select(AuthToken).join(AuthSession).where(AuthSession.staff_user_id == scene.nurse.id)
    ).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)


def test_two_tabs_after_a_quiet_quarter_hour_both_keep_working(
    app: Flask, scene: Scene, clock: time_machine.Traveller
) -> None:
    first = signed_in(app, scene.nurse)
    second = Browser(app)
    with first.client.session_transaction("/portal/") as cookie:
        copied = dict(cookie)
    with second.client.session_transaction("/portal/") as cookie:
        cookie.update(copied)
    clock.move_to(NOW + timedelta(minutes=20))

    assert first.get("/portal/today").status_code == 200
    assert second.get("/portal/today").status_code == 200
    assert first.get("/portal/participants").status_code == 200


def test_signing_in_again_ends_the_sign_in_this_browser_had(app: Flask, scene: Scene, db: Session) -> None:
    browser = signed_in(app, scene.nurse)
    browser.get("/portal/sign-in")

    browser.post("/portal/sign-in", {"email": scene.investigator.email, "password": "correct horse battery staple"})

    nurse_session = db.scalars(select(AuthSession).where(AuthSession.staff_user_id == scene.nurse.id)).one()
    assert nurse_session.revoked_reason == "replaced"


def test_a_form_sent_after_the_idle_timeout_leads_to_today_after_signing_in(
    app: Flask, scene: Scene, clock: time_machine.Traveller, db: Session
) -> None:
    browser = signed_in(app, scene.nurse)
    browser.get("/portal/today")
    clock.move_to(NOW + timedelta(minutes=45))

    response = browser.post(f"/portal/photos/{scene.photos[0]}/review", {"decision": "accept"})

    assert response.status_code == 302 and response.location.endswith("next=/portal/today")
    assert db.scalars(select(PhotoReview)).first() is None


@pytest.mark.parametrize(
    "url",
    [
        "/portal/photos/99999999999999999999",
        "/portal/photos/99999999999999999999/image",
        "/portal/participants/99999999999999999999",
        "/portal/participants/0",
    ],
)
def test_ids_out_of_range_are_not_found(app: Flask, scene: Scene, url: str) -> None:
    assert signed_in(app, scene.nurse).get(url).status_code == 404


def test_a_next_with_a_line_break_goes_to_today(app: Flask, scene: Scene) -> None:
    browser = Browser(app)
    browser.get("/portal/sign-in")

    response = browser.post(
        "/portal/sign-in?next=/portal/%0d%0aSet-Cookie:x", {"email": scene.nurse.email, "password": PASSWORD}
    )

    assert response.status_code == 302 and response.location == "/portal/today"


def test_a_deeply_nested_outline_is_a_clear_422(app: Flask, scene: Scene, db: Session) -> None:
    browser = signed_in(app, scene.nurse)
    browser.get(f"/portal/photos/{scene.photos[0]}")

    response = browser.post(
        f"/portal/photos/{scene.photos[0]}/review", {"decision": "correct", "outline": "[" * 5000 + "]" * 5000}
    )

    assert response.status_code == 422
    assert "form.outline" in browser.text(response)
    assert db.scalars(select(PhotoReview)).first() is None


def test_missed_diary_flags_never_crowd_out_new_flags_and_can_be_acknowledged(
    app: Flask, scene: Scene, db: Session
) -> None:
    for n in range(120):  # a long-ignored pile of older flags of another kind
        raise_flag(
            db, scene.patient.participant, FlagKind.LATE_ENTRY, f"pile-{n}", NOW - timedelta(days=2), detail={"n": n}
        )
    db.commit()
    browser = signed_in(app, scene.nurse)

    html = browser.text(browser.get("/portal/today"))

    assert "The oldest 100 of 121 are shown" in html  # 120 + the urgent symptom report
    assert html.index("Urgent") < html.index("late entry")
    missed = db.scalars(select(Flag).where(Flag.kind == FlagKind.MISSED_DIARY).order_by(Flag.id)).first()
    assert missed is not None
    assert f"/portal/flags/{missed.id}/acknowledge" in html
    response = browser.post(
        f"/portal/flags/{missed.id}/acknowledge?next=/portal/today", {"note": "phoned, she was ill"}
    )
    assert response.status_code == 302
    db.refresh(missed)
    assert missed.acknowledgement_note == "phoned, she was ill"
