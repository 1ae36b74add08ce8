"""The audit trail: every write appends an event with actor, before/after, reason and
request id; staff read it per participant, and that read is logged too."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent
from tests.factories import Factory


def test_a_participant_history_reads_in_order(make: Factory, client: FlaskClient, db: Session) -> None:
    nurse = make.staff("nurse")
    headers = make.staff_headers(nurse)
    created = client.post("/api/v1/participants", json=make.participant_payload(), headers=headers).json
    pid = created["id"]
    client.patch(
        f"/api/v1/participants/{pid}", json={"language": "en", "reason": "patient prefers English"}, headers=headers
    )
    client.post(f"/api/v1/participants/{pid}/activation-codes", headers=headers)
    client.post(f"/api/v1/participants/{pid}/sessions/revoke", json={"reason": "lost phone"}, headers=headers)

    response = client.get(f"/api/v1/participants/{pid}/audit", headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    events = response.json
    assert [e["action"] for e in events] == [
        "participant.create",
        "participant.update",
        "activation_code.issue",
        "participant.sessions_revoke",
    ]
    update = events[1]
    assert (update["actor_type"], update["actor_id"], update["actor_role"]) == ("staff", str(nurse.id), "nurse")
    assert (update["before"]["language"], update["after"]["language"]) == ("fa", "en")
    assert update["reason"] == "patient prefers English"
    assert update["request_id"]
    assert "request_fingerprint" not in update["after"]
    assert events[3]["reason"] == "lost phone"
    assert json.loads(response.headers["X-Pagination"])["total"] == 4

    read = db.scalar(select(AccessEvent).where(AccessEvent.resource == "audit_trail"))
    assert read is not None and read.participant_id == pid and read.actor_id == str(nurse.id)


def test_no_secret_lands_in_the_trail(make: Factory, client: FlaskClient) -> None:
    participant = make.participant()
    headers = make.staff_headers(make.staff("nurse"))
    code = client.post(f"/api/v1/participants/{participant.id}/activation-codes", headers=headers).json["code"]
    trail = client.get(f"/api/v1/participants/{participant.id}/audit", headers=headers).text
    assert code not in trail and code.replace("-", "") not in trail
    assert "code_hash" not in trail


def test_the_api_has_no_route_that_changes_the_trail(client: FlaskClient) -> None:
    app = client.application
    audit_rules = [rule for rule in app.url_map.iter_rules() if "audit" in rule.rule]
    assert audit_rules
    for rule in audit_rules:
        assert rule.methods is not None
        assert rule.methods - {"GET", "HEAD", "OPTIONS"} == set()
