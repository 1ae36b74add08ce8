"""Every failure answers in the same envelope, with the request id; 5xx bodies say nothing internal."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import Factory

ENVELOPE = {"code", "status", "message", "request_id"}


def assert_envelope(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.is_json
    body = response.json
    assert ENVELOPE <= set(body) <= ENVELOPE | {"errors"}
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body  # type: ignore[no-any-return]


def test_unknown_url_is_a_404_envelope(client: FlaskClient) -> None:
    assert_envelope(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_a_405_envelope_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/participants")
    assert_envelope(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_malformed_json_is_a_400_naming_the_body(make: Factory, client: FlaskClient) -> None:
    headers = {**make.staff_headers(make.staff("nurse")), "Content-Type": "application/json"}
    body = assert_envelope(client.post("/api/v1/participants", data="{not json", headers=headers), 400)
    assert body["errors"] == {"json": ["Invalid JSON body."]}


def test_wrong_types_name_each_field(make: Factory, client: FlaskClient) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    payload = {**make.participant_payload(), "consent_date": 20260101, "client_uuid": "nope", "target_leg": 1}
    body = assert_envelope(client.post("/api/v1/participants", json=payload, headers=headers), 422)
    assert set(body["errors"]["json"]) == {"consent_date", "client_uuid", "target_leg"}


def test_an_oversized_body_is_a_413_before_parsing(make: Factory, client: FlaskClient, app: Flask) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = '{"subject_code": "' + "A" * limit + '"}'
    response = client.post("/api/v1/participants", data=big, headers={**headers, "Content-Type": "application/json"})
    assert_envelope(response, 413)


def test_a_crash_is_a_generic_500(app: Flask) -> None:
    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret detail: token lta_abc and /srv/path")

    response = app.test_client().get("/api/v1/boom", headers={"X-Request-ID": "req-12345678"})
    body = assert_envelope(response, 500)
    assert body["request_id"] == "req-12345678"
    assert "secret" not in response.text and "Traceback" not in response.text and "lta_" not in response.text


@pytest.mark.parametrize("incoming", ["", "short", "x" * 65, "bad id with spaces", "<script>"])
def test_unsafe_request_ids_are_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] != incoming
    assert len(response.headers["X-Request-ID"]) == 32


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}
