"""Authorisation per object for every portal page, as every kind of staff caller.

`ROUTES` names each (method, rule) the portal serves, the roles that may use it and the
object it addresses; `test_every_portal_route_has_a_spec` keeps it in step with the URL
map. Expected, as for the API: not signed in → the sign-in page (nothing done); a role
the page does not allow → 403; an allowed role at another site → 404 for the target's
objects (their existence is not revealed), 422 for creating at a site that is not theirs,
or a list without the target; in scope → the page works. A refused request writes
nothing: the target's audit trail does not grow. Patients have no portal sign-in (the
form accepts staff accounts only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.flags.models import Flag
from backend.staff.models import StaffRole
from backend.staff.roles import MANAGE_PARTICIPANTS, READ_PARTICIPANTS, WITHDRAW_PARTICIPANTS
from tests.factories import PASSWORD, Factory
from tests.portal.conftest import Scene
from tests.portal.helpers import Browser, signed_in

Scope = Literal["none", "participant", "site_in_body", "list"]


@dataclass(frozen=True)
class Page:
    roles: frozenset[StaffRole] | None  # None: public
    scope: Scope = "none"
    ok: int = 200
    form: Callable[[Scene], dict[str, Any]] = field(default=lambda scene: {})


def _flag(scene: Scene, db: Session) -> int:
    return int(db.scalars(select(Flag.id).where(Flag.participant_id == scene.patient.id)).first() or 0)


ROUTES: dict[tuple[str, str], Page] = {
    ("GET", "/portal/"): Page(READ_PARTICIPANTS, ok=302),
    ("GET", "/portal/sign-in"): Page(None),
    ("POST", "/portal/sign-in"): Page(None, ok=302),
    ("POST", "/portal/sign-out"): Page(READ_PARTICIPANTS, ok=302),
    ("GET", "/portal/today"): Page(READ_PARTICIPANTS, scope="list"),
    ("POST", "/portal/flags/<id:flag_id>/acknowledge"): Page(
        MANAGE_PARTICIPANTS, scope="participant", ok=302, form=lambda scene: {"note": "called her"}
    ),
    ("GET", "/portal/photos/<id:photo_id>"): Page(READ_PARTICIPANTS, scope="participant"),
    ("GET", "/portal/photos/<id:photo_id>/image"): Page(READ_PARTICIPANTS, scope="participant"),
    ("POST", "/portal/photos/<id:photo_id>/review"): Page(
        MANAGE_PARTICIPANTS,
        scope="participant",
        ok=302,
        form=lambda scene: {"decision": "reject", "reject_reason": "blurred"},
    ),
    ("GET", "/portal/participants"): Page(READ_PARTICIPANTS, scope="list"),
    ("GET", "/portal/participants/<id:participant_id>"): Page(READ_PARTICIPANTS, scope="participant"),
    ("GET", "/portal/participants/new"): Page(MANAGE_PARTICIPANTS),
    ("POST", "/portal/participants/new"): Page(
        MANAGE_PARTICIPANTS,
        scope="site_in_body",
        ok=302,
        form=lambda scene: {
            "subject_code": "TEH01-777",
            "site_code": "TEH-01",
            "target_leg": "left",
            "timezone": "Asia/Tehran",
            "language": "en",
            "consent_version": "1.0",
            "consent_date": "2026-03-01",
        },
    ),
    # the target is active: enrol is a 409 for those allowed (in scope), which still shows
    # that the role and scope checks came first
    ("POST", "/portal/participants/<id:participant_id>/status/enrol"): Page(
        MANAGE_PARTICIPANTS, scope="participant", ok=409, form=lambda scene: {"reason": "eligible"}
    ),
    ("POST", "/portal/participants/<id:participant_id>/status/withdraw"): Page(
        WITHDRAW_PARTICIPANTS, scope="participant", ok=302, form=lambda scene: {"reason": "moved away"}
    ),
    ("POST", "/portal/participants/<id:participant_id>/status/complete"): Page(
        MANAGE_PARTICIPANTS, scope="participant", ok=302, form=lambda scene: {"reason": "follow-up done"}
    ),
    ("POST", "/portal/participants/<id:participant_id>/activation-code"): Page(
        MANAGE_PARTICIPANTS, scope="participant", ok=302
    ),
    # with no code just issued, the participant's page
    ("GET", "/portal/participants/<id:participant_id>/activation-code"): Page(
        READ_PARTICIPANTS, scope="participant", ok=302
    ),
    ("POST", "/portal/participants/<id:participant_id>/revoke-sessions"): Page(
        MANAGE_PARTICIPANTS, scope="participant", ok=302, form=lambda scene: {"reason": "lost phone"}
    ),
}

CALLERS = {
    "anonymous": None,
    "nurse_same_site": (StaffRole.NURSE, "TEH-01"),
    "nurse_other_site": (StaffRole.NURSE, "TEH-02"),
    "monitor": (StaffRole.MONITOR, "TEH-01"),
    "investigator": (StaffRole.INVESTIGATOR, "TEH-01"),
    "admin": (StaffRole.ADMIN, None),
}


def test_every_portal_route_has_a_spec(app: Flask) -> None:
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("portal.") and rule.endpoint != "portal.static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert served == set(ROUTES)


def _url(rule: str, scene: Scene, db: Session) -> str:
    return (
        rule.replace("<id:participant_id>", str(scene.patient.id))
        .replace("<id:photo_id>", str(scene.photos[0]))
        .replace("<id:flag_id>", str(_flag(scene, db)))
    )


def _audit_count(db: Session, scene: Scene) -> int:
    count = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.participant_id == scene.patient.id))
    return int(count or 0)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "rule"), list(ROUTES))
def test_portal_route_as_caller(
    method: str, rule: str, caller: str, app: Flask, scene: Scene, make: Factory, db: Session
) -> None:
    page = ROUTES[(method, rule)]
    spec = CALLERS[caller]
    url = _url(rule, scene, db)
    if spec is None:
        browser = Browser(app)
        browser.get("/portal/sign-in")  # a CSRF token, but no sign-in
    else:
        role, site = spec
        user = make.staff(role.value, sites=(site,) if site else ())
        browser = signed_in(app, user)
        browser.get("/portal/today")
    form = page.form(scene)
    if rule == "/portal/sign-in" and method == "POST":
        form = {"email": scene.nurse.email, "password": PASSWORD}
    before = _audit_count(db, scene)

    response = browser.get(url) if method == "GET" else browser.post(url, form)

    in_scope = spec is not None and (spec[0] == StaffRole.ADMIN or spec[1] == "TEH-01")
    if page.roles is None:
        assert response.status_code == page.ok, browser.text(response)
        return
    if spec is None:
        assert response.status_code == 302 and response.location.startswith("/portal/sign-in")
        assert _audit_count(db, scene) == before
        return
    if spec[0] not in page.roles:
        assert response.status_code == 403, browser.text(response)
        assert _audit_count(db, scene) == before
        return
    if page.scope in ("participant", "site_in_body") and not in_scope:
        assert response.status_code == (404 if page.scope == "participant" else 422), browser.text(response)
        assert _audit_count(db, scene) == before
        return
    assert response.status_code == page.ok, browser.text(response)[:2000]
    if page.scope == "list":
        listed = f"/portal/participants/{scene.patient.id}" in browser.text(response)
        assert listed == in_scope
