"""The FCM fake driven by the real firebase-admin SDK: the wire JSON it sends, and how FCM errors,
the SDK's own retries and a refused OAuth token surface, so push code is tested against real behaviour."""

from __future__ import annotations

import contextlib
import datetime
import time
import uuid
from collections.abc import Iterator

import firebase_admin
import pytest
from firebase_admin import credentials, exceptions, messaging
from google.auth.exceptions import RefreshError

from tests.fake_fcm import FakeFcm, point_sdk_at, service_account_info


@contextlib.contextmanager
def app_on(fake: FakeFcm) -> Iterator[firebase_admin.App]:
    """A named app whose token and send URLs are the fake's (its first messaging call happens inside)."""
    cred = credentials.Certificate(service_account_info(fake.url + "/token"))
    app = firebase_admin.initialize_app(cred, name=f"fake-fcm-{uuid.uuid4().hex}")
    try:
        with point_sdk_at(fake.url):
            yield app
    finally:
        firebase_admin.delete_app(app)


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeFcm]:
    with FakeFcm() as server:
        yield server


@pytest.fixture(scope="module")
def _shared_app(_server: FakeFcm) -> Iterator[firebase_admin.App]:
    """Shared because a fresh app's first send costs ~0.2 s (the SDK builds httpx/SSL clients)."""
    with app_on(_server) as app:
        yield app


@pytest.fixture
def fake(_server: FakeFcm) -> FakeFcm:
    _server.reset()
    return _server


@pytest.fixture
def fcm_app(fake: FakeFcm, _shared_app: firebase_admin.App) -> firebase_admin.App:
    return _shared_app


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """urllib3 backs off with time.sleep between its retries: record instead of waiting."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def test_wire_json_and_headers(fake: FakeFcm, fcm_app: firebase_admin.App) -> None:
    message = messaging.Message(
        fid="device-a",
        notification=messaging.Notification(title="Walk reminder", body="Time for today's walk"),
        data={"kind": "walk", "study": "s1"},
        android=messaging.AndroidConfig(ttl=datetime.timedelta(hours=1), collapse_key="walk"),
        apns=messaging.APNSConfig(
            headers={"apns-collapse-id": "walk", "apns-expiration": "1700000000"},
            payload=messaging.APNSPayload(aps=messaging.Aps(thread_id="walks")),
        ),
    )
    with pytest.warns(DeprecationWarning):
        legacy = messaging.Message(token="device-b", data={"kind": "walk"})

    batch = messaging.send_each([message, legacy], app=fcm_app)

    assert batch.success_count == 2
    assert batch.responses[0].message_id.startswith("projects/limbtrack-test/messages/")
    by_token = {r.token: r for r in fake.received}
    assert by_token["device-a"].project == "limbtrack-test"
    assert by_token["device-a"].body == {
        "message": {
            "fid": "device-a",
            "notification": {"title": "Walk reminder", "body": "Time for today's walk"},
            "data": {"kind": "walk", "study": "s1"},
            "android": {"ttl": "3600s", "collapse_key": "walk"},
            "apns": {
                "headers": {"apns-collapse-id": "walk", "apns-expiration": "1700000000"},
                "payload": {"aps": {"thread-id": "walks"}},
            },
        }
    }
    assert by_token["device-b"].body == {"message": {"token": "device-b", "data": {"kind": "walk"}}}
    headers = by_token["device-a"].headers
    assert headers["authorization"] == "Bearer fake-access-token"
    assert headers["x-goog-api-format-version"] == "2"
    assert sorted(fake.sent_tokens()) == ["device-a", "device-b"]


@pytest.mark.parametrize(
    ("status", "error_code", "expected"),
    [
        (404, "UNREGISTERED", messaging.UnregisteredError),
        (403, "SENDER_ID_MISMATCH", messaging.SenderIdMismatchError),
        (400, "INVALID_ARGUMENT", exceptions.InvalidArgumentError),
    ],
)
def test_fcm_errors_map_to_sdk_exceptions(
    fake: FakeFcm, fcm_app: firebase_admin.App, status: int, error_code: str, expected: type[Exception]
) -> None:
    fake.fail_token("dead", status, error_code)
    batch = messaging.send_each([messaging.Message(fid="dead"), messaging.Message(fid="alive")], app=fcm_app)

    assert type(batch.responses[0].exception) is expected
    assert batch.responses[1].success
    assert len(fake.received) == 2  # not retried
    assert fake.sent_tokens() == ["alive"]


def test_quota_exceeded_with_retry_after(fake: FakeFcm, fcm_app: firebase_admin.App, sleeps: list[float]) -> None:
    fake.fail_token("busy", 429, "QUOTA_EXCEEDED", retry_after=7)
    error = messaging.send_each([messaging.Message(fid="busy")], app=fcm_app).responses[0].exception

    assert isinstance(error, messaging.QuotaExceededError)
    assert error.http_response.headers["Retry-After"] == "7"
    # urllib3 honours Retry-After on 429 by itself: 4 retries, each after the advertised wait.
    assert len(fake.received) == 5
    assert sleeps == [7, 7, 7, 7]


def test_unavailable_is_retried_by_the_sdk(fake: FakeFcm, fcm_app: firebase_admin.App, sleeps: list[float]) -> None:
    fake.fail_token("flaky", 503, None)
    error = messaging.send_each([messaging.Message(fid="flaky")], app=fcm_app).responses[0].exception

    assert isinstance(error, exceptions.UnavailableError)
    assert len(fake.received) == 5
    assert sleeps == [1.0, 2.0, 4.0]  # the first retry is immediate (urllib3 skips a zero backoff)


def test_transient_failure_then_success(fake: FakeFcm, fcm_app: firebase_admin.App, sleeps: list[float]) -> None:
    fake.fail_token("flaky", 500, "INTERNAL", times=1)
    batch = messaging.send_each([messaging.Message(fid="flaky")], app=fcm_app)

    assert batch.success_count == 1
    assert [r.status for r in fake.received] == [500, 200]
    assert fake.sent_tokens() == ["flaky"]


def test_refused_oauth_token(fake: FakeFcm) -> None:
    fake.fail_oauth()
    with app_on(fake) as app, pytest.raises(exceptions.UnknownError) as raised:  # a fresh app has no cached token
        messaging.send_each([messaging.Message(fid="device-a")], app=app)

    assert isinstance(raised.value.cause, RefreshError)  # send() raises the bare RefreshError instead
    assert fake.received == []
    assert fake.token_requests == 1


def test_reset(fake: FakeFcm, fcm_app: firebase_admin.App) -> None:
    fake.fail_token("dead", 404, "UNREGISTERED")
    messaging.send_each([messaging.Message(fid="dead")], app=fcm_app)
    fake.reset()

    assert messaging.send_each([messaging.Message(fid="dead")], app=fcm_app).success_count == 1
    assert fake.sent_tokens() == ["dead"]
